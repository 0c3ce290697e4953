"""The Faust app, its topics and the records that travel on them."""
