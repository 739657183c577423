#!/usr/bin/env bash
# The package as a new team gets it, checked end to end (CI runs this after the tests):
#
#   1. build the sdist, then the wheel from the sdist (`python -m build`), from a
#      copy of the source tree (the tree itself is left as it was);
#   2. check what they hold: the wheel has the template library, byte for byte
#      the source's, the SDK, the CLI and its entry point, and none of tests/,
#      benchmarks/, validators/, .venv, caches or bytecode;
#   3. install the wheel with its `cli` extra into a fresh venv without system
#      site packages (dependencies from the package index, as pip is set up);
#   4. in a new, empty git repository outside the source tree: `safeflags init`
#      (or, where this safeflags has no `init`, a minimal safeflags.yaml and
#      flag), `validate`, `compile`, and every flag of the bundle evaluated by
#      the SDK, all with the fresh venv's interpreter and nothing of this
#      source tree reachable;
#   5. install from git (`pip install "safeflags[cli] @ git+file://...@<commit>"`)
#      over it and compile again: the second documented install path. Only
#      when the work tree is clean (a git install builds the commit, not the
#      work tree's edits).
#
# Each step prints its time. Needs network to the package index (or a pip
# cache), git and Python >= 3.11 ($PYTHON, default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd -P)
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "package-check: needs Python >= 3.11 (found $("$PY" --version 2>&1)); set PYTHON=..." >&2
  exit 2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/safeflags-package.XXXXXX")
work=$(cd "$work" && pwd -P)
trap 'rm -rf "$work"' EXIT
case "$work/" in "$SRC"/*)
  echo "package-check: the work directory $work is inside the source tree; set TMPDIR elsewhere" >&2
  exit 2
esac
mkdir -p "$work/logs" "$work/team"  # team: the new repository, empty until its step
passed=0
declare -a timings=()

# step NAME COMMAND...: run COMMAND with its output in a log (shown if it fails), then print its time.
# COMMAND runs in a child bash with errexit on: in an `if` or `||`, bash would ignore errexit in the
# step's own commands and judge it by its last one.
step() {
  local name=$1 log="$work/logs/$1.log" start end rc
  shift
  start=$(date +%s%N)
  set +e
  bash -euo pipefail -c '"$@"' "$name" "$@" > "$log" 2>&1
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "package-check: FAILED: $name (exit $rc; log above)" >&2
    echo "package-check: $passed passed, 1 failed"
    exit 1
  fi
  end=$(date +%s%N)
  timings+=("$(printf '%-40s %7.1f s' "$name" "$(awk -v ns=$((end - start)) 'BEGIN { print ns / 1e9 }')")")
  echo "package-check: ${timings[-1]}"
  passed=$((passed + 1))
}

# The files git would commit (tracked or new, not ignored) that exist: the tree as CI's clone has it.
copy_source() {
  mkdir -p "$work/src"
  git -C "$SRC" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$SRC/$f" ] && printf '%s\0' "$f"; done |
    tar -C "$SRC" --null -T - -cf - | tar -C "$work/src" -xf -
}

build_dists() {
  "$PY" -m venv "$work/tools"
  "$work/tools/bin/python" -m pip install --quiet build
  "$work/tools/bin/python" -m build --outdir "$work/dist" "$work/src"
}

check_dists() {
  "$work/tools/bin/python" - "$work/dist" "$SRC" <<'EOF'
import pathlib, re, sys, tarfile, zipfile

dist, src = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
[wheel] = dist.glob("safeflags-*.whl")
[sdist] = dist.glob("safeflags-*.tar.gz")
version = re.search(r'__version__ = "([^"]+)"', (src / "safeflags/version.py").read_text()).group(1)
problems = []
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    library = {p.name: p.read_bytes() for p in (src / "safeflags/templates").glob("*.libsonnet")}
    for name, data in sorted(library.items()):
        if f"safeflags/templates/{name}" not in names:
            problems.append(f"the wheel lacks safeflags/templates/{name}")
        elif z.read(f"safeflags/templates/{name}") != data:
            problems.append(f"the wheel's safeflags/templates/{name} differs from the source's")
    shipped = {n.rsplit("/", 1)[1] for n in names if n.startswith("safeflags/templates/")}
    problems += [f"the wheel ships safeflags/templates/{n}, not in the source" for n in sorted(shipped - set(library))]
    info = f"safeflags-{version}.dist-info"
    metadata = z.read(f"{info}/METADATA").decode()
    entry_points = z.read(f"{info}/entry_points.txt").decode()
    top_level = z.read(f"{info}/top_level.txt").decode().split()
for required in ("safeflags/__init__.py", "safeflags/version.py", "safeflags/py.typed", "safeflags/sdk/evaluator.py",
                 "safeflags/cli/main.py", "safeflags/compile/driver.py", "safeflags/source/sandbox.py",
                 "safeflags/v1/bundle_pb2.py"):
    if required not in names:
        problems.append(f"the wheel lacks {required}")
forbidden = re.compile(r"(^|/)(tests?|benchmarks|validators|tools|docs|proto|flags|templates|\.venv|venv|build|dist"
                       r"|\.git|\.safeflags-cache|\.mypy_cache|\.ruff_cache|\.pytest_cache|__pycache__)/|\.pyc$")
problems += [f"the wheel holds {n}" for n in names
             if forbidden.search(n) and not n.startswith(("safeflags/templates/", f"safeflags-{version}.dist-info/"))]
problems += [f"the wheel holds a top-level {n}" for n in names
             if not n.startswith(("safeflags/", f"safeflags-{version}.dist-info/"))]
if top_level != ["safeflags"]:
    problems.append(f"top_level.txt names {top_level}")
if f"\nVersion: {version}\n" not in metadata:
    problems.append(f"METADATA is not version {version}")
if not re.search(r"^Requires-Dist: gojsonnet.*extra == \"cli\"", metadata, re.M):
    problems.append("METADATA has no gojsonnet in the cli extra")
if "safeflags = safeflags.cli.main:main" not in entry_points:
    problems.append("no `safeflags` console script")
with tarfile.open(sdist) as t:
    members = [m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name]
for required in ("pyproject.toml", "README.md", "LICENSE", *(f"safeflags/templates/{n}" for n in library)):
    if required not in members:
        problems.append(f"the sdist lacks {required}")
problems += [f"the sdist holds {m}" for m in members
             if re.search(r"(^|/)(\.venv|\.git|build|dist|\.safeflags-cache|__pycache__|out)/|\.pyc$", m)
             and not m.startswith("safeflags.egg-info/")]
print(f"{wheel.name}: {len(names)} files, {wheel.stat().st_size:,} bytes")
folders = {}
for n in names:
    folder = n.rsplit("/", 1)[0] if "/" in n else "."
    folders[folder] = folders.get(folder, 0) + 1
for folder, count in sorted(folders.items()):
    print(f"  {folder}/  {count} files")
print("  data: " + ", ".join(n for n in names if not n.endswith(".py") and ".dist-info/" not in n))
print(f"{sdist.name}: {len(members)} files, {sdist.stat().st_size:,} bytes")
if problems:
    sys.exit("\n".join(problems))
EOF
}

install_wheel() {
  "$PY" -m venv "$work/venv"  # no --system-site-packages: the wheel and what pip brings, nothing else
  grep -qx 'include-system-site-packages = false' "$work/venv/pyvenv.cfg"
  local wheel
  wheel=$(echo "$work"/dist/safeflags-*.whl)
  "$work/venv/bin/python" -m pip install "${wheel}[cli]"
}

# Run in the new repository with the fresh venv only: no PYTHONPATH, no source tree on the path.
in_repo() {
  (cd "$work/team" && env -u PYTHONPATH -u VIRTUAL_ENV PATH="$work/venv/bin:/usr/bin:/bin" "$@")
}

isolated() {
  in_repo python - "$SRC" <<'EOF'
import pathlib, sys

import safeflags
from safeflags.source.sandbox import PACKAGED_TEMPLATES

src = pathlib.Path(sys.argv[1])
venv = pathlib.Path(sys.prefix)
here = pathlib.Path(safeflags.__file__).resolve()
assert here.is_relative_to(venv) and not here.is_relative_to(src), here
assert not any(pathlib.Path(p or ".").resolve().is_relative_to(src) for p in sys.path), sys.path
assert (PACKAGED_TEMPLATES / "safeflags.libsonnet").is_file(), PACKAGED_TEMPLATES
print(f"safeflags from {here.parent}, templates in {PACKAGED_TEMPLATES}")
EOF
}

new_repository() {
  in_repo git init -q -b main .
  in_repo safeflags --version
  if in_repo safeflags init --help > /dev/null 2>&1; then
    in_repo safeflags init .
  else
    echo "this safeflags has no init: writing a minimal repository"
    minimal_repository
  fi
  # The point of the check: the flags import the packaged library, with no copy in the repository.
  grep -rlq "import 'safeflags.libsonnet'" "$work/team/flags"
  if [ -e "$work/team/templates/safeflags.libsonnet" ]; then
    echo "the new repository vendors the library: the packaged copy would not be used" >&2
    return 1
  fi
  in_repo git add -A
  in_repo git -c user.name=new-team -c user.email=team@example.com commit -qm "Adopt safeflags"
}

minimal_repository() {
  mkdir -p "$work/team/flags/example"
  cat > "$work/team/safeflags.yaml" <<'EOF'
version: 1
dimensions:
  environment: {type: enum, values: [dev, prod], static: true}
  user_id: {type: string}
owners:
  team-example:
EOF
  cat > "$work/team/flags/example/welcome_banner.jsonnet" <<'EOF'
local sf = import 'safeflags.libsonnet';

sf.bool {
  owner: 'team-example',
  description: 'Show the new welcome banner.',
  default: false,
  rollout: sf.ramps.standard(unit='user_id', stage=1),
  overrides: [sf.when(sf.dim.environment.in_(['dev'])).serve(true)],
}
EOF
  printf 'build/\n.safeflags-cache/\n' > "$work/team/.gitignore"
}

evaluate() {
  in_repo python - build/bundle.pb <<'EOF'
import pathlib, sys

import safeflags

client = safeflags.Evaluator.from_file(sys.argv[1])
files = sorted(pathlib.Path("flags").rglob("*.jsonnet"))
keys = sorted(str(p.relative_to("flags").with_suffix("")).replace("/", ".") for p in files)
assert sorted(client.snapshot.flags) == keys, (sorted(client.snapshot.flags), keys)
for key in keys:
    d = client.details(key, None, {"user_id": "u-1"})
    assert d.error_code is None, d
    print(f"{key} = {d.value!r} ({d.reason.name})")
print(f"SDK from {pathlib.Path(safeflags.__file__).parent}, bundle {client.snapshot.digest}")
EOF
}

install_from_git() {
  local commit
  commit=$(git -C "$SRC" rev-parse HEAD)
  # The pip a venv starts with may be too old to read `name @ git+file:///...` (a URL without a host; the
  # documented git+https://github.com/... form it reads): this check is of the package, not of that pip.
  "$work/venv/bin/python" -m pip install --quiet --upgrade pip
  "$work/venv/bin/python" -m pip install --no-deps --force-reinstall "safeflags[cli] @ git+file://$SRC@$commit"
  in_repo safeflags --version
  cp "$work/team/build/bundle.pb" "$work/from-wheel.pb"
  in_repo safeflags compile --no-cache
  # Same sources, same compiler and library, however installed: the same bytes.
  cmp "$work/from-wheel.pb" "$work/team/build/bundle.pb"
}

export SRC PY work
export -f copy_source build_dists check_dists install_wheel in_repo isolated new_repository minimal_repository \
  evaluate install_from_git
step "copy the source tree" copy_source
step "build sdist and wheel" build_dists
step "check the wheel and sdist" check_dists
cat "$work/logs/check the wheel and sdist.log"
step "install the wheel [cli] (fresh venv)" install_wheel
step "nothing of the source reachable" isolated
step "new git repository + init" new_repository
cat "$work/logs/new git repository + init.log"
step "safeflags validate" in_repo safeflags validate
cat "$work/logs/safeflags validate.log"
step "safeflags compile" in_repo safeflags compile
cat "$work/logs/safeflags compile.log"
step "evaluate with the SDK" evaluate
cat "$work/logs/evaluate with the SDK.log"
if [ -z "$(git -C "$SRC" status --porcelain --untracked-files=no)" ]; then
  step "install from git, compile again" install_from_git
  tail -n 3 "$work/logs/install from git, compile again.log"
else
  echo "package-check: the work tree has uncommitted changes: the git install (which builds a commit) is not checked"
fi
echo "package-check: times"
printf '  %s\n' "${timings[@]}"
echo "package-check: $passed passed, 0 failed"
