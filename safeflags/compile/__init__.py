"""The authoring pipeline, stages 1-4 and their driver (`driver.compile_repo`).

    discovery find the flag files (symlinks and special files refused, never read)
    load      evaluate flag files in evaluator processes (Jsonnet via safeflags.source)
    process   the driver's handle on one evaluator process: deadline, memory, output bounds
    parse/    JSON -> FlagSpec: the pydantic model, typing against the catalog, source positions
    lower     FlagSpec -> CompiledFlag: ordered rules of boolean expression trees
    pack      optimise, intern strings, serialise deterministically -> Bundle bytes
    pipeline  stages 2-4 for one flag (in an evaluator process or in the driver)
    driver    the whole repository: discovery, cache, evaluator pool, packing
    config    safeflags.yaml and the dimension catalog
    cache     the content-addressed compile cache

Importing this package loads nothing; import the module you need.
"""
