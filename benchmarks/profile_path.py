"""Where a steady path's time goes, by solver function: XLA:CPU thunks per lambda.

A compiled path is a few hundred XLA:CPU kernels ("thunks": fusions, copies, matrix products,
LAPACK calls, loops) that the runtime executes one by one, about a thousand per lambda on the
p >> n logistic cells. This script counts the executed thunks of one steady call and assigns
each to a function of jaxreg's solver:

1. a child interpreter (``XLA_FLAGS`` set to dump the optimized HLO, jaxreg's disk cache off)
   compiles the path program for the problem and runs it ``--warmup`` times;
2. it runs one more call under ``jax.profiler.trace`` and reads the trace back
   (``jax.profiler.ProfileData``): one event per executed thunk, named after its HLO
   instruction;
3. each instruction's Python stack comes from the dumped HLO's stack frames. Instructions that
   XLA created itself (loop-state copies, the two halves of a split reduction) have none and
   inherit the stack of their computation. The stack is searched from the innermost frame out
   for the first function named in ``--phases``;
4. per phase: thunks per lambda, their share of all thunks and of the profiled thunk time,
   and the most frequent instruction kinds.

The profiled times include the profiler's own cost per event, which dominates thunks of a
microsecond or less: rank phases by them, do not read them as run time. The run time of the
program itself is the unprofiled call (``steady`` line). Only the working-set program
(``run_path``) is counted: Gaussian paths with n >= p run the homotopy program first.

    PYTHONPATH=. python benchmarks/profile_path.py --cell binomial:100x1000x0.1
    PYTHONPATH=. python benchmarks/profile_path.py --cell 100x5000x0 --tol 1e-6 --top 20
    PYTHONPATH=. python benchmarks/profile_path.py --cell binomial:100x1000x0 --l1-ratio 0.1
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

DEFAULT_PHASES = ("_cd_sweep,_newton_step,refined_free_solve,_corrected_dual_terms,_dual_value,_certificate,"
                  "_add_features,_update_changed_slots,_glm_gradients,_solve_quadratic_family,solve_quadratic,"
                  "_solve_newton_family,_solve_one_lambda,run_path")
_LOOPS = ("while", "conditional", "call")  # their thunks contain the others: not counted


def parse_hlo(text: str):
    """``(stack, opcode, computation)`` dicts keyed by instruction name, from an optimized HLO
    dump with stack frames (``FileNames`` ... ``StackFrames`` tables). ``stack``: innermost
    first, each ``"file:line function"``."""
    lines = text.splitlines()
    files, functions, locations, frames = {}, {}, {}, {}
    section = None
    for line in lines:
        if line in ("FileNames", "FunctionNames", "FileLocations", "StackFrames"):
            section = line
            continue
        row = re.match(r"(\d+) (.*)", line)
        if section is None:
            continue
        if row is None:  # a table ends at the first line that is not a row
            section = None
            continue
        key, rest = int(row.group(1)), row.group(2)
        fields = dict(re.findall(r"(\w+)=(\d+)", rest))
        if section == "FileNames":
            files[key] = rest.strip('"').rsplit("/", 1)[-1]
        elif section == "FunctionNames":
            functions[key] = rest.strip('"')
        elif section == "FileLocations":
            locations[key] = (f"{files[int(fields['file_name_id'])]}:{fields['line']}",
                              functions[int(fields["function_name_id"])])
        else:  # parent ids are 1-based (0: none)
            frames[key] = (int(fields["file_location_id"]), int(fields["parent_frame_id"]) - 1)

    def stack(frame_id):
        out, seen = [], set()
        while frame_id in frames and frame_id not in seen:
            seen.add(frame_id)
            location, frame_id = frames[frame_id]
            out.append(locations[location])
        return out

    stacks, opcodes, computation_of, computation_stack = {}, {}, {}, {}
    computation = None
    for line in lines:
        header = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$", line)
        if header:
            computation = header.group(1)
            continue
        inst = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = .*?\}? ([a-z][\w\-]*)\(", line)
        if not inst:
            continue
        name = inst.group(1)
        opcodes.setdefault(name, inst.group(2))
        computation_of[name] = computation
        frame = re.search(r"stack_frame_id=(\d+)", line)
        if frame:
            stacks[name] = stack(int(frame.group(1)))
            computation_stack.setdefault(computation, stacks[name])
    for name, comp in computation_of.items():
        if name not in stacks and comp in computation_stack:
            stacks[name] = computation_stack[comp]
    return stacks, opcodes


def phase_of(stack, phases) -> str:
    """The first of ``phases`` that names a function of ``stack`` (innermost first)."""
    for _, function in stack:
        tokens = set(function.split("."))
        for phase in phases:
            if phase in tokens:
                return phase
    return "other"


def _child(args) -> None:
    import numpy as np
    import jax

    jax.config.update("jax_enable_x64", True)
    from jax.profiler import ProfileData

    import jaxreg
    from jaxreg.datasets import make_glmnet_benchmark

    family, _, shape = args.cell.rpartition(":")
    family = family or "gaussian"
    n, p, rho = shape.split("x")
    X, y, _ = make_glmnet_benchmark(int(n), int(p), float(rho), family=family, seed=0)
    X, y = np.asarray(X), np.asarray(y)
    sys.modules["jaxreg.path"].USE_HOMOTOPY = False  # count the working-set program
    for _ in range(args.warmup):
        result = jaxreg.path(X, y, family=family, tol=args.tol, l1_ratio=args.l1_ratio)
    start = time.perf_counter()
    result = jaxreg.path(X, y, family=family, tol=args.tol, l1_ratio=args.l1_ratio)
    steady = time.perf_counter() - start
    trace_dir = os.path.join(args.dump, "trace")
    with jax.profiler.trace(trace_dir):
        jaxreg.path(X, y, family=family, tol=args.tol, l1_ratio=args.l1_ratio)

    dumps = glob.glob(os.path.join(args.dump, "*jit__traced_run_path*cpu_after_optimizations.txt"))
    with open(max(dumps, key=os.path.getsize)) as fh:
        stacks, opcodes = parse_hlo(fh.read())
    counts, times = collections.Counter(), collections.Counter()
    profile = ProfileData.from_file(glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)[0])
    for plane in profile.planes:
        for line in plane.lines:
            for event in line.events:
                if event.name in opcodes and opcodes[event.name] not in _LOOPS:
                    counts[event.name] += 1
                    times[event.name] += event.duration_ns

    phases = [s for s in args.phases.split(",") if s]
    by_count, by_time = collections.Counter(), collections.Counter()
    kinds = collections.defaultdict(collections.Counter)
    for name, count in counts.items():
        phase = phase_of(stacks.get(name, []), phases)
        by_count[phase] += count
        by_time[phase] += times[name]
        kinds[phase][opcodes[name]] += count
    K = len(result.lambdas)
    total, total_time = sum(by_count.values()), sum(by_time.values())
    print(f"{args.cell}, l1_ratio {args.l1_ratio}, tol {args.tol}: steady call {steady * 1e3:.1f} ms, {K} lambdas, "
          f"{total} thunks ({total / K:.0f} per lambda)")
    print(f"{'phase':28s} {'/lambda':>8s} {'thunks':>7s} {'time*':>6s}  most frequent kinds")
    for phase, count in by_count.most_common(args.top):
        mix = ", ".join(f"{k} {v / K:.0f}" for k, v in kinds[phase].most_common(4))
        print(f"{phase:28s} {count / K:8.1f} {count / total:7.1%} {by_time[phase] / total_time:6.1%}  {mix}")
    print("* share of the profiled thunk time (includes the profiler's cost per thunk)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="binomial:100x1000x0.1", help="NxPxRHO or binomial:NxPxRHO")
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--l1-ratio", type=float, default=1.0, help="elastic-net mixing (1: lasso)")
    parser.add_argument("--warmup", type=int, default=3, help="steady calls before the profiled one")
    parser.add_argument("--phases", default=DEFAULT_PHASES, help="comma-separated solver function names")
    parser.add_argument("--top", type=int, default=30, help="phases shown")
    parser.add_argument("--dump", help=argparse.SUPPRESS)  # set for the child process
    args = parser.parse_args(argv)
    if args.dump:
        _child(args)
        return
    with tempfile.TemporaryDirectory() as dump:
        env = dict(os.environ, JAXREG_CACHE_DIR="off",
                   XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={dump} --xla_dump_hlo_as_text".strip())
        command = [sys.executable, __file__, "--cell", args.cell, "--tol", str(args.tol), "--l1-ratio", str(args.l1_ratio), "--warmup", str(args.warmup),
                   "--phases", args.phases, "--top", str(args.top), "--dump", dump]
        subprocess.run(command, env=env, check=True)


if __name__ == "__main__":
    main()
