#!/usr/bin/env python
"""Django's command-line utility for administrative tasks (see syncapp/cli.py)."""

from syncapp.cli import main

if __name__ == "__main__":
    main()
