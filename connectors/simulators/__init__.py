"""Test doubles of the three APIs (and the demo store): what `simulate`, `make demo`, the
benchmark and the tests run against. Production code never imports them."""
