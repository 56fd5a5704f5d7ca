"""The `cleanup-manager` command line: one module per subcommand."""
