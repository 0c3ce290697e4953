"""/openapi.json describes exactly the routes and methods the worker serves."""

from faust.web import View

from cohortstream.streams.app import app
from cohortstream.web import register_views
from cohortstream.web.openapi import openapi_document

register_views()  # as the worker does

METHODS = ("get", "post", "put", "patch", "delete")


def served() -> dict[str, set[str]]:
    return {
        path: {m for m in METHODS if getattr(type(view), m) is not getattr(View, m)}
        for path, view in app.web.views.items()
    }


def test_every_served_route_and_method_is_described_and_nothing_else():
    described = {path: set(ops) for path, ops in openapi_document()["paths"].items()}
    assert described == served()


def test_path_parameters_are_declared_and_bodies_only_where_a_method_takes_one():
    for path, described in openapi_document()["paths"].items():
        for method, operation in described.items():
            names = [p["name"] for p in operation["parameters"] if p["in"] == "path"]
            assert [f"{{{n}}}" for n in names] == [s for s in path.split("/") if s.startswith("{")]
            assert operation["summary"] and operation["responses"]
            if "requestBody" in operation:
                assert method in ("post", "put", "delete"), (path, method)
