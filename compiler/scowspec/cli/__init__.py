"""The command line: flags → pipeline → renderer → exit code. No logic of its own."""
