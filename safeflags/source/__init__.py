"""Stage 1: the Jsonnet engine adapter (`jsonnet`), the import sandbox
(`sandbox`) and the located error every authoring stage reports (`errors`).
The evaluator processes that run it are `safeflags.compile.load`."""
