"""The package layout: no import circles, thin top level, one export name.

Reads the source with `ast` (no imports run), so every import counts, also
the ones inside functions.
"""

import ast
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
# Command-line modules: the library never imports them.
CLI_MODULES = {"tfvocoder.vocode", "tfvocoder.evaluate", "tfvocoder.quickstart",
               "tfvocoder.data.prepare", "tfvocoder.export.__main__"}


def module_name(path: pathlib.Path) -> str:
  """`tfvocoder/a/b.py` -> `tfvocoder.a.b`; `export/x.py` -> `tfvocoder.export.x`."""
  parts = list(path.relative_to(REPO).with_suffix("").parts)
  if parts[0] == "export":
    parts = ["tfvocoder"] + parts
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(parts)


def library_files():
  files = sorted((REPO / "tfvocoder").rglob("*.py")) + sorted(
      (REPO / "export").glob("*.py"))
  return {module_name(p): p for p in files}


def _resolve(modules, package: str, node) -> list:
  """The project modules an import statement loads (submodules resolved)."""
  if isinstance(node, ast.Import):
    names = [alias.name for alias in node.names]
    return [n for n in names if n in modules]
  base = node.module or ""
  if node.level:
    anchor = package.split(".")
    anchor = anchor[:len(anchor) - node.level + 1]
    base = ".".join(anchor + ([base] if base else []))
  if base == "export" or base.startswith("export."):
    base = "tfvocoder." + base
  found = []
  for alias in node.names:
    full = f"{base}.{alias.name}"
    if full in modules:
      found.append(full)
    elif base in modules:
      found.append(base)
  return found


def import_graph():
  modules = library_files()
  graph = {}
  for name, path in modules.items():
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    edges = set()
    for node in ast.walk(tree):
      if isinstance(node, (ast.Import, ast.ImportFrom)):
        edges.update(_resolve(modules, package, node))
    edges.discard(name)
    graph[name] = edges
  return graph


def find_cycle(graph):
  """One import cycle as a list of modules, or None."""
  state = {}

  def visit(node, stack):
    state[node] = "open"
    stack.append(node)
    for nxt in sorted(graph[node]):
      if state.get(nxt) == "open":
        return stack[stack.index(nxt):] + [nxt]
      if nxt not in state:
        cycle = visit(nxt, stack)
        if cycle:
          return cycle
    stack.pop()
    state[node] = "done"
    return None

  for node in sorted(graph):
    if node not in state:
      cycle = visit(node, [])
      if cycle:
        return cycle
  return None


def test_finds_a_planted_cycle():
  graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
  assert find_cycle(graph) == ["a", "b", "c", "a"]
  assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_graph_sees_imports_inside_functions():
  graph = import_graph()
  # data/pipeline imports dsp at the top; vocode's CLI imports inference.
  assert "tfvocoder.dsp" in graph["tfvocoder.data.pipeline"]
  assert any(m.startswith("tfvocoder.inference") for m in graph["tfvocoder.vocode"])


def test_no_import_cycles():
  cycle = find_cycle(import_graph())
  assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_library_never_imports_a_cli_module():
  graph = import_graph()
  bad = sorted((m, cli) for m, edges in graph.items() if m not in CLI_MODULES
               for cli in edges & CLI_MODULES)
  assert not bad, f"library modules importing CLI modules: {bad}"


def test_top_level_stays_small():
  top = sorted(p.name for p in (REPO / "tfvocoder").glob("*.py"))
  assert len(top) <= 8, top


@pytest.mark.parametrize("folder", ["tfvocoder", "export", "benchmarks", "tests"])
def test_export_is_imported_as_tfvocoder_export(folder):
  offenders = []
  for path in sorted((REPO / folder).rglob("*.py")):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom) and not node.level:
        names = [node.module or ""]
      else:
        continue
      if any(n == "export" or n.startswith("export.") for n in names):
        offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
  assert not offenders, offenders


def test_setup_cfg_lists_every_package():
  text = (REPO / "setup.cfg").read_text()
  listed = {line.strip() for line in text.splitlines()
            if line.strip().startswith("tfvocoder")}
  packages = {module_name(p.parent / "__init__.py")
              for p in (REPO / "tfvocoder").rglob("__init__.py")}
  packages.add("tfvocoder.export")
  assert packages <= listed, sorted(packages - listed)
  assert os.path.isfile(REPO / "export" / "__init__.py")
