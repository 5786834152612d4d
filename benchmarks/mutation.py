"""Mutation testing of the trust-critical modules: would the tests notice a broken promise?

A mutant is the module with one small change (a comparison flipped, ``not`` added, a
constant changed, an exception type swapped, a loop made to run zero times...) made by
cosmic-ray's own operators and its apply/revert machinery (``cosmic_ray.mutating``). For
each module this samples ``--sample`` mutants (seeded: the same seed gives the same
mutants), runs only the fast test files that cover the module (``TESTS`` below) against
each mutant, and prints module, mutants, killed, survived, timeout and score, then every
survivor (file:line and the diff) so a developer can write the test that is missing.

The checkout is never touched: the tracked and untracked-but-not-ignored files are copied
into a temporary folder, which is mutated and removed at the end (a killed run leaves at
most a ``mle3-mutation-*`` folder under the temporary directory). Runs sequentially, with
``nice`` 10 and one thread per library, so it takes about one core.

Not run in CI (a full run takes tens of minutes). Install the tool, then run::

    pip install -e '.[mutation]'
    python benchmarks/mutation.py                    # all modules, 40 mutants each, seed 21
    python benchmarks/mutation.py --module ids --module duties --sample 40 --seed 21
    python benchmarks/mutation.py --format json > mutation.json

Figures (seed 21, 40 mutants a module, ``--tests guards``, 2026-12-02): ids 22/24 (92 %),
duties 36/40 (90 %), signing 36/40 (90 %), manifest 39/40 (98 %, one a timeout); every
survivor left is equivalent for the promise (message wording, a slice bound of 79/80/81,
``!= 3`` vs ``< 3`` after ``split(maxsplit=2)``). Before the guard tests (``--tests
existing``, smaller samples for time): ids 4/12 (33 %), duties 6/10 (60 %).

Exit status: 0 when every module reaches ``--threshold`` (85 % by default), 1 otherwise,
2 when the unmutated tests already fail (nothing could be measured).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: module name -> (source files to mutate, test files that exercise them). Fast tests only:
#: the run adds ``-m 'not slow' -x``. A ``tests/test_guards_<name>.py`` is run first when it
#: exists. Entries may be pytest node ids (``file::test``) to keep a module's run short.
MODULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "audit": (
        ("mle3/audit.py", "mle3/ledger/approvals.py"),
        ("tests/test_audit.py", "tests/test_approvals.py", "tests/test_signing.py"),
    ),
    "promote": (
        ("mle3/approvals/promote.py",),
        ("tests/test_approvals.py", "tests/test_signing.py", "tests/test_teams.py"),
    ),
    "ids": (
        ("mle3/ids.py",),
        ("tests/test_hostile.py::test_every_command_refuses_ids_that_could_leave_their_folder", "tests/test_rules.py"),
    ),
    "manifest": (
        ("mle3/datasets/manifest.py",),
        ("tests/test_datasets.py", "tests/test_crash_safety.py", "tests/test_data_roots.py"),
    ),
    "fingerprint": (
        ("mle3/ledger/fingerprint.py",),
        ("tests/test_approvals.py", "tests/test_datasets.py", "tests/test_audit.py"),
    ),
    "verify": (("mle3/datasets/verify.py",), ("tests/test_datasets.py", "tests/test_data_roots.py")),
    "duties": (
        ("mle3/ledger/duties.py",),
        (
            "tests/test_approvals.py::test_separation_of_duties",
            "tests/test_teams.py::test_one_person_in_two_roles_on_two_branches_is_a_finding_after_the_merge",
        ),
    ),
    "signing": (("mle3/ledger/signing.py",), ("tests/test_signing.py",)),
}


@dataclass(frozen=True)
class Mutant:
    file: str
    operator: str
    occurrence: int
    line: int


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed | survived | timeout | no-mutation
    diff: str = ""
    seconds: float = 0.0


@dataclass
class ModuleResult:
    module: str
    population: int
    outcomes: list[Outcome] = field(default_factory=list)
    baseline_seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def mutants(self) -> int:
        return sum(1 for o in self.outcomes if o.status != "no-mutation")

    @property
    def score(self) -> float:
        """Killed and timed-out mutants over all mutants (a hang is noticed too)."""
        return (self.count("killed") + self.count("timeout")) / self.mutants if self.mutants else 1.0


def enumerate_mutants(path: Path, rel: str) -> list[Mutant]:
    """Every mutation cosmic-ray's core operators can make in one file, as (operator, occurrence)."""
    import cosmic_ray.plugins
    from cosmic_ray.ast import ast_nodes, get_ast_from_path

    tree = get_ast_from_path(path)
    skip = annotation_spans(path.read_text(encoding="utf-8"))
    found: list[Mutant] = []
    for name in cosmic_ray.plugins.operator_names():
        cls = cosmic_ray.plugins.get_operator(name)
        if cls.arguments():  # operators that need parameters (as `cosmic-ray init` without config)
            continue
        op = cls()
        occurrence = 0
        for node in ast_nodes(tree):
            for start, _end in op.mutation_positions(node):
                if not any(a <= tuple(start) < b for a, b in skip):
                    found.append(Mutant(rel, name, occurrence, start[0]))
                occurrence += 1
    return found


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the type annotations are, in a module with ``from __future__ import annotations``:
    they are never evaluated there, so a mutant inside one (``str | None`` -> ``str & None``)
    cannot change behaviour and would only dilute the score."""
    import ast

    tree = ast.parse(source)
    if not any(
        isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
        for n in tree.body
    ):
        return []
    spans = []
    for node in ast.walk(tree):
        notes = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            notes.append(node.returns)
        elif isinstance(node, ast.arg) and node.annotation is not None:
            notes.append(node.annotation)
        elif isinstance(node, ast.AnnAssign):
            notes.append(node.annotation)
        spans.extend(((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset)) for n in notes)
    return spans


def copy_tree(dest: Path) -> None:
    """The working tree as git sees it (tracked plus untracked-not-ignored files)."""
    names = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in names:
        if not raw:
            continue
        rel = raw.decode()
        src = ROOT / rel
        if not src.is_file() or src.is_symlink() and not src.exists():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)


def test_command(module: str, copy: Path, which: str = "all") -> list[str]:
    """The module's own guard tests first (fast: with ``-x`` most mutants die there), then the
    rest; ``which`` = "guards" or "existing" runs only one of the two parts."""
    tests = [] if which == "guards" else list(MODULES[module][1])
    guard = f"tests/test_guards_{module}.py"
    if which != "existing" and (copy / guard).is_file():
        tests.insert(0, guard)
    if not tests:
        raise SystemExit(f"{module}: no tests to run ({guard} does not exist)")
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-m",
        "not slow",
        "-x",
        "-q",
        "--no-header",
        *tests,
    ]


def run_tests(cmd: list[str], copy: Path, timeout: float) -> tuple[str, str]:
    """'killed' (a test failed), 'survived' (all passed) or 'timeout', and the output."""
    env = dict(
        os.environ,
        PYTHONPATH=str(copy),
        PYTHONDONTWRITEBYTECODE="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        PYTHONHASHSEED="0",
    )
    proc = subprocess.Popen(
        cmd,
        cwd=copy,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return "timeout", ""
    except BaseException:  # interrupted: take the test run (its own process group) down too
        _kill(proc)
        raise
    text = out.decode(errors="replace")
    return ("survived" if proc.returncode == 0 else "killed"), text


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.communicate()


def measure(
    module: str, copy: Path, sample: int, seed: int, timeout: float | None, log, which: str = "all"
) -> ModuleResult:
    import cosmic_ray.plugins
    from cosmic_ray.mutating import use_mutation

    files = MODULES[module][0]
    population: list[Mutant] = []
    for rel in files:
        population.extend(enumerate_mutants(copy / rel, rel))
    rng = random.Random(f"{seed}:{module}")
    chosen = population if sample <= 0 or sample >= len(population) else rng.sample(population, sample)
    chosen.sort(key=lambda m: (m.file, m.line, m.operator, m.occurrence))
    result = ModuleResult(module, len(population))

    cmd = test_command(module, copy, which)
    started = time.monotonic()
    status, output = run_tests(cmd, copy, timeout=600)
    result.baseline_seconds = time.monotonic() - started
    if status != "survived":
        raise SystemExit(f"{module}: the unmutated tests do not pass ({' '.join(cmd[3:])}):\n{output[-3000:]}")
    limit = timeout if timeout else max(30.0, 3 * result.baseline_seconds + 10)
    log(
        f"{module}: {len(chosen)} of {len(population)} mutants, tests take {result.baseline_seconds:.1f}s, timeout {limit:.0f}s"
    )

    for index, mutant in enumerate(chosen, 1):
        op = cosmic_ray.plugins.get_operator(mutant.operator)()
        path = copy / mutant.file
        began = time.monotonic()
        with use_mutation(path, op, mutant.occurrence) as (original, mutated):
            if mutated is None:
                result.outcomes.append(Outcome(mutant, "no-mutation"))
                continue
            status, _ = run_tests(cmd, copy, limit)
        diff = unified(original, mutated, mutant.file)
        result.outcomes.append(Outcome(mutant, status, diff, time.monotonic() - began))
        log(f"  [{index}/{len(chosen)}] {status:8} {mutant.file}:{mutant.line} {mutant.operator.split('/')[-1]}")
    return result


def unified(original: str, mutated: str, name: str) -> str:
    import difflib

    lines = difflib.unified_diff(
        original.splitlines(), mutated.splitlines(), f"a/{name}", f"b/{name}", lineterm="", n=1
    )
    return "\n".join(lines)


def table(results: list[ModuleResult]) -> str:
    rows = [("module", "mutants", "killed", "survived", "timeout", "score")]
    for r in results:
        rows.append(
            (
                r.module,
                str(r.mutants),
                str(r.count("killed")),
                str(r.count("survived")),
                str(r.count("timeout")),
                f"{100 * r.score:.0f} %",
            )
        )
    total = sum(r.mutants for r in results)
    killed = sum(r.count("killed") + r.count("timeout") for r in results)
    rows.append(
        (
            "all",
            str(total),
            str(sum(r.count("killed") for r in results)),
            str(sum(r.count("survived") for r in results)),
            str(sum(r.count("timeout") for r in results)),
            f"{100 * killed / total:.0f} %" if total else "-",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--module", action="append", choices=sorted(MODULES), help="module to test (repeatable; default: all)"
    )
    parser.add_argument("--sample", type=int, default=40, help="mutants per module (0: all of them)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per mutant (default: 3 x the unmutated run + 10, at least 30)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--tests",
        choices=("all", "guards", "existing"),
        default="all",
        help="the mapped test files and tests/test_guards_<module>.py (all), only the guard file, or only the mapped files",
    )
    parser.add_argument("--threshold", type=float, default=85.0, help="score in percent each module must reach")
    args = parser.parse_args(argv)

    try:
        import cosmic_ray  # noqa: F401
    except ImportError:
        print("cosmic-ray is not installed: pip install -e '.[mutation]'", file=sys.stderr)
        return 2
    try:
        os.nice(10)
    except OSError:
        pass

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    modules = args.module or list(MODULES)
    results: list[ModuleResult] = []
    tmp = Path(tempfile.mkdtemp(prefix="mle3-mutation-"))
    try:
        copy = tmp / "tree"
        copy_tree(copy)
        for module in modules:
            try:
                results.append(measure(module, copy, args.sample, args.seed, args.timeout, log, args.tests))
            except SystemExit as exc:
                log(str(exc))
                return 2
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if args.format == "json":
        print(
            json.dumps(
                {
                    "seed": args.seed,
                    "sample": args.sample,
                    "tests": args.tests,
                    "modules": [
                        {
                            "module": r.module,
                            "population": r.population,
                            "mutants": r.mutants,
                            "killed": r.count("killed"),
                            "survived": r.count("survived"),
                            "timeout": r.count("timeout"),
                            "score": round(r.score, 4),
                            "survivors": [
                                dict(asdict(o.mutant), diff=o.diff) for o in r.outcomes if o.status == "survived"
                            ],
                        }
                        for r in results
                    ],
                },
                indent=2,
            )
        )
    else:
        print(table(results))
        for r in results:
            survivors = [o for o in r.outcomes if o.status == "survived"]
            if survivors:
                print(f"\n## {r.module}: {len(survivors)} surviving mutants")
            for o in survivors:
                print(
                    f"\n{o.mutant.file}:{o.mutant.line} ({o.mutant.operator}, occurrence {o.mutant.occurrence})\n{o.diff}"
                )
    return 0 if all(100 * r.score >= args.threshold for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
