"""JSON Schemas shipped with the package: the rule-file schema (the item schema lives in
``datalint.load.schema``)."""
