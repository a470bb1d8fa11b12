"""The SQLite store: connection, migrations and one repository per table group."""
