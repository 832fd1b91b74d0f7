"""JSON Schemas shipped with the package: the data item schema and the rule-file schema."""
