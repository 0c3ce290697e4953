from cohortstream.sinks.migrate import load_migrations, migrate
from cohortstream.sinks.warehouse import MemoryWarehouse


def test_packaged_migrations_are_numbered_and_idempotent():
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for migration in migrations:
        for statement in migration.statements:
            assert "IF NOT EXISTS" in statement, (migration.name, statement)


async def test_migrate_applies_each_version_once():
    warehouse = MemoryWarehouse()
    first = await migrate(warehouse)
    assert first == [m.version for m in load_migrations()]
    assert await migrate(warehouse) == []
    assert any("CREATE TABLE IF NOT EXISTS events" in s for s in warehouse.statements)
