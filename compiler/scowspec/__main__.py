"""`python -m scowspec` runs the command line."""

from scowspec.cli.app import main

raise SystemExit(main())
