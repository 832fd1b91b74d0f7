"""The JSON Schema of one data item (the native layout)."""
