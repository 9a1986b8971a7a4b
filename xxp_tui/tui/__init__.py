"""The Textual viewer. Imported only by the commands that open it, never by `xxp-tui --help`."""
