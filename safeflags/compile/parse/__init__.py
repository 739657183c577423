"""Stage 2: a flag's JSON to a FlagSpec, with every error located.

    model   the strict pydantic model of the JSON contract
    spec    typing against the dimension catalog, then the FlagSpec protobuf
    locate  file, line and column of a field, from the Jsonnet source
    regex   which regular expressions a condition may use
"""
