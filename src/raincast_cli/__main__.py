from raincast_cli.cli import entry

entry()
