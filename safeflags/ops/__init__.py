"""Operations around a flip: edits as commands, recent flips by scope, the health gate.

The commands in safeflags/cli are thin: the work is here, importable and
tested without a shell."""
