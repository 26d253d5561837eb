"""The command-line layer: one thin module per subcommand over the library API."""
