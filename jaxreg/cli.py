"""The ``jaxreg`` command: elastic-net paths and cross-validation from a CSV or Parquet file.

    jaxreg path DATA --target COLUMN [options]   # one path: coefficients, summary, plot
    jaxreg cv   DATA --target COLUMN [options]   # K-fold cross-validation over l1_ratios
    jaxreg demo [--out DIR]                      # a lasso path on the shipped diabetes data

DATA is a CSV file (optionally gzip-compressed) with a header row, or a Parquet file (needs
pyarrow). Every column but the target, the ``--weights`` column and the ``--drop``ped ones
is a feature; non-numeric features are one-hot encoded (every level kept: the penalty makes
the dummies identifiable). Missing values are refused, never imputed.

``path`` and ``cv`` write into ``--out`` (default ``./jaxreg-out``): ``coef.csv`` (one row
per lambda: lambda, intercept, one column per feature; for ``cv`` the path of the best
l1_ratio), ``summary.json`` (grid, deviance explained, non-zeros, certificates, CV curves,
every setting used) and, when matplotlib is installed, ``path.png`` (and ``cv.png``). Each
file is written completely or not at all. Bad input exits with status 2 and one line
``jaxreg: error: ...`` on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import difflib
import gzip
import json
import os
import sys
import time
import warnings

import numpy as np

from jaxreg._validation import aligned_empty

__all__ = ["main", "CLIError", "read_table", "build_problem"]

EXIT_ERROR = 2
_MISSING = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none"})
_SCORINGS = {"gaussian": ("deviance", "mse", "mae"), "binomial": ("deviance", "class", "auc")}
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"


class CLIError(Exception):
    """A problem with the user's input, options or files: one line on stderr, exit status 2."""


# --------------------------------------------------------------------------- reading data


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of the data file: float64 values when ``numeric``, else strings (object)."""

    name: str
    values: np.ndarray
    missing: np.ndarray  # (n,) bool
    numeric: bool


def _text_column(name, raw) -> Column:
    """A CSV column: numeric when every non-missing entry parses as a float."""
    text = np.array([v.strip() for v in raw], dtype=object)
    missing = np.array([v.lower() in _MISSING for v in text], dtype=bool)
    try:
        values = np.where(missing, "nan", text).astype(np.float64)
    except ValueError:
        return Column(name, text, missing, numeric=False)
    return Column(name, values, missing, numeric=True)


def _open_error(path, exc) -> CLIError:
    if isinstance(exc, FileNotFoundError):
        return CLIError(f"data file not found: {path}")
    if isinstance(exc, IsADirectoryError):
        return CLIError(f"{path} is a folder, not a data file")
    if isinstance(exc, PermissionError):
        return CLIError(f"cannot read {path}: permission denied")
    return CLIError(f"cannot read {path}: {exc.strerror or exc}")


def _header_names(header):
    """Column names, stripped; an empty name becomes ``column<i>`` (1-based)."""
    return [h.strip() or f"column{i + 1}" for i, h in enumerate(header)]


def _read_csv(path, compressed) -> list:
    opener = gzip.open if compressed else open
    rows = []
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next((row for row in reader if row), None)
            if header is None:
                raise CLIError(f"{path} is empty (no header row)")
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise CLIError(f"{path}, line {reader.line_num}: {len(row)} fields, "
                                   f"but the header has {len(header)}")
                rows.append(row)
    except UnicodeDecodeError:
        raise CLIError(f"cannot read {path}: not a UTF-8 text (CSV) file") from None
    except csv.Error as exc:
        raise CLIError(f"cannot read {path} as CSV: {exc}") from None
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise CLIError(f"cannot read {path}: {exc}") from None
    if not rows:
        raise CLIError(f"{path} has a header but no data rows")
    names = _header_names(header)
    return [_text_column(name, raw) for name, raw in zip(names, zip(*rows))]


def _arrow_column(name, chunked, pa) -> Column:
    """A Parquet column: numbers and booleans are numeric, anything else is text."""
    t = chunked.type
    items = chunked.to_pylist()
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
        values = np.array([np.nan if v is None else float(v) for v in items], dtype=np.float64)
        return Column(name, values, np.isnan(values), numeric=True)
    text = np.array(["" if v is None else str(v) for v in items], dtype=object)
    return Column(name, text, np.array([v is None for v in items], dtype=bool), numeric=False)


def _read_parquet(path) -> list:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CLIError(f"{path} is a Parquet file, which needs pyarrow: pip install pyarrow "
                       "(or 'jaxreg[parquet]'), or convert the file to CSV") from None
    try:
        table = pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise CLIError(f"cannot read {path} as Parquet: {exc}") from None
    if table.num_columns == 0:
        raise CLIError(f"{path} has no columns")
    if table.num_rows == 0:
        raise CLIError(f"{path} has no data rows")
    names = _header_names(table.column_names)
    return [_arrow_column(name, col, pa) for name, col in zip(names, table.columns)]


def read_table(path) -> list:
    """The columns of a CSV (plain or gzip) or Parquet file, recognised by their first bytes.

    Raises CLIError for a missing, unreadable, empty or malformed file.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise _open_error(path, exc) from None
    if not magic:
        raise CLIError(f"{path} is empty")
    if magic == _PARQUET_MAGIC:
        return _read_parquet(path)
    return _read_csv(path, compressed=magic[:2] == _GZIP_MAGIC)


# --------------------------------------------------------------------------- design matrix


@dataclasses.dataclass(frozen=True)
class Problem:
    """What the solver needs, and what the summary reports about where it came from."""

    X: np.ndarray  # (n, p) float64
    y: np.ndarray  # (n,) float64, or labels (str) for a binomial target
    weights: np.ndarray | None
    feature_names: list
    encoded: dict  # non-numeric column -> its levels (one dummy each)
    notes: list  # remarks for stderr, printed once the data are accepted


def _find(by_name, name, option, path):
    """The column called ``name``, or a CLIError listing the columns (with a close match)."""
    if name in by_name:
        return by_name[name]
    names = list(by_name)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
    raise CLIError(f"{option} column '{name}' is not in {path}{hint}; its columns are: {shown}")


def _check_complete(column, drop_hint=True):
    """Refuse missing or infinite values, naming the column and the first bad data row."""
    bad = column.missing
    what = "missing"
    if not bad.any() and column.numeric and not np.all(np.isfinite(column.values)):
        bad, what = ~np.isfinite(column.values), "infinite"
    if bad.any():
        first = int(np.flatnonzero(bad)[0]) + 1
        fix = f"remove those rows, or the column with --drop {column.name}" if drop_hint else "remove those rows"
        raise CLIError(f"column '{column.name}' has {int(bad.sum())} {what} value(s) (first in data row {first}); "
                       f"jaxreg does not impute: {fix}")


def _target(column, family, notes):
    """The response: floats (gaussian) or two labels (binomial, strings or numbers)."""
    classes = np.unique(column.values.astype(str) if not column.numeric else column.values)
    if family == "gaussian":
        if not column.numeric:
            example = next(v for v in column.values)
            raise CLIError(f"target column '{column.name}' is not numeric (for example {example!r}); "
                           "for a two-class target use --family binomial")
        if classes.size == 2:
            notes.append(f"target '{column.name}' has only two values ({classes[0]:g}, {classes[1]:g}); "
                         "for classification use --family binomial")
        return column.values
    if classes.size != 2:
        shown = ", ".join(str(c) for c in classes[:5]) + (", ..." if classes.size > 5 else "")
        raise CLIError(f"--family binomial needs a target with exactly two classes; "
                       f"'{column.name}' has {classes.size}: {shown}")
    return column.values if column.numeric else column.values.astype(str)


def _weights(column):
    if not column.numeric:
        raise CLIError(f"--weights column '{column.name}' is not numeric")
    if np.any(column.values < 0):
        raise CLIError(f"--weights column '{column.name}' has negative values")
    if not np.any(column.values > 0):
        raise CLIError(f"--weights column '{column.name}' is zero everywhere")
    return column.values


def _encode(features):
    """Design matrix, feature names and one-hot levels; every level of a text column is kept."""
    blocks, names, encoded = [], [], {}
    for col in features:
        if col.numeric:
            blocks.append(col.values[:, None])
            names.append(col.name)
            continue
        levels = sorted(set(col.values))
        encoded[col.name] = levels
        blocks.append((col.values[:, None] == np.array(levels, dtype=object)[None, :]).astype(np.float64))
        names.extend(f"{col.name}={level}" for level in levels)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CLIError(f"feature name(s) {', '.join(repeated)} occur twice after one-hot encoding; rename the columns")
    X = aligned_empty((blocks[0].shape[0], sum(block.shape[1] for block in blocks)), np.float64)
    np.concatenate(blocks, axis=1, out=X)  # on a 64-byte boundary: the path shares it with XLA
    return X, names, encoded


def _encoding_note(encoded, n):
    """One stderr line listing the one-hot encoded columns and their number of dummies."""
    parts = []
    for name, levels in encoded.items():
        shown = ": " + ", ".join(levels) if len(levels) <= 5 else ""
        unique = len(levels) == n and n > 5
        ident = f"; a different value in every row, an identifier? (--drop {name})" if unique else ""
        parts.append(f"{name} ({len(levels)} levels{shown}{ident})")
    dummies = sum(len(levels) for levels in encoded.values())
    return (f"one-hot encoded {len(encoded)} non-numeric column(s) into {dummies} dummy columns "
            f"(every level kept): " + "; ".join(parts))


def build_problem(columns, *, target, family, weights=None, drop=(), path="DATA") -> Problem:
    """Check the columns against the options and assemble X, y and the sample weights.

    Raises CLIError for an unknown or misused column, missing or infinite values in a used
    column, a non-numeric gaussian target, a binomial target without exactly two classes,
    bad weights, or no feature left.
    """
    names = [c.name for c in columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CLIError(f"column name(s) {', '.join(repeated)} appear more than once in the header of {path}")
    by_name = {c.name: c for c in columns}
    y_col = _find(by_name, target, "--target", path)
    w_col = _find(by_name, weights, "--weights", path) if weights is not None else None
    for name in drop:
        _find(by_name, name, "--drop", path)
    if target in drop or (weights is not None and (weights in drop or weights == target)):
        raise CLIError("the --target, --weights and --drop columns must all be different")
    skip = {target, weights, *drop}
    features = [c for c in columns if c.name not in skip]
    if not features:
        raise CLIError(f"no feature columns left in {path} after --target, --weights and --drop")
    _check_complete(y_col, drop_hint=False)
    if w_col is not None:
        _check_complete(w_col, drop_hint=False)
    for col in features:
        _check_complete(col)
    notes = []
    y = _target(y_col, family, notes)
    w = _weights(w_col) if w_col is not None else None
    n = y.shape[0]
    X, feature_names, encoded = _encode(features)
    if encoded:
        notes.insert(0, _encoding_note(encoded, n))
    return Problem(X, y, w, feature_names, encoded, notes)


# --------------------------------------------------------------------------- writing results


def atomic_write(path, write, *, binary=False):
    """Write ``path`` completely or not at all: ``write(file)`` fills a temporary file in the
    same folder, which then replaces ``path`` in one rename."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "xb") if binary else open(tmp, "x", encoding="utf-8", newline="") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _num(value) -> str:
    """Shortest text that reads back as exactly the same float (no negative zero)."""
    return repr(float(value) + 0.0)


def write_coef_csv(path, result, feature_names):
    """``lambda, intercept, <features>``: one row per lambda, coefficients on the original scale."""

    def write(f):
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["lambda", "intercept", *feature_names])
        for lam, b0, row in zip(result.lambdas, result.intercept, result.coef):
            out.writerow([_num(lam), _num(b0), *map(_num, row)])

    atomic_write(path, write)


def _jsonable(value):
    """Plain JSON values: arrays become lists, NaN and infinities become null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(path, data):
    atomic_write(path, lambda f: json.dump(_jsonable(data), f, indent=2, allow_nan=False))


def write_plots(out, plots):
    """Draw and save ``plots`` (``{file name: draw(ax)}``) as PNG files in ``out``.

    Returns ``(paths, note)``: the files written, and a note when matplotlib is missing (then
    nothing is drawn) or a plot could not be drawn (the tables matter more than the pictures,
    so a failing plot is skipped, never fatal). Uses matplotlib's Figure directly: no pyplot,
    no GUI backend.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return [], "matplotlib is not installed: plots skipped (pip install 'jaxreg[plot]')"
    paths, problems = [], []
    for name, draw in plots.items():
        path = os.path.join(out, name)
        try:
            fig = Figure(figsize=(7.5, 4.8), layout="constrained")
            draw(fig.add_subplot())
            atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120), binary=True)
        except Exception as exc:  # noqa: BLE001 - any plotting failure only costs the picture
            problems.append(f"{name} skipped ({type(exc).__name__}: {exc})")
            continue
        paths.append(path)
    return paths, "; ".join(problems) or None


def prepare_out(out):
    """Create the output folder (and parents) or raise CLIError."""
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise CLIError(f"cannot write into the output folder {out}: permission denied")
    return out


def _say(message):
    print(f"jaxreg: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _collected_warnings(store):
    """Record warnings (ConvergenceWarning, SeparationWarning, ...) instead of showing them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
            store.append(f"{w.category.__name__}: {w.message}")


# --------------------------------------------------------------------------- commands


def _load(args) -> Problem:
    """Read DATA and build the problem; jaxreg's own input checks run here too (they are
    cheap), so bad data fail with one line before anything is compiled."""
    from jaxreg._validation import validate_inputs

    columns = read_table(args.data)
    problem = build_problem(columns, target=args.target, family=args.family, weights=args.weights,
                            drop=args.drop, path=args.data)
    validate_inputs(problem.X, problem.y, family_name=args.family, sample_weight=problem.weights, offset=None,
                    penalty_factor=None, lower_bounds=None, upper_bounds=None, l1_ratio=1.0)
    return problem


def path_options(args) -> dict:
    """Keyword arguments of ``jaxreg.path`` / ``jaxreg.cv`` chosen by the command-line options."""
    return dict(
        family=args.family,
        n_lambdas=args.n_lambdas,
        lambda_min_ratio=args.lambda_min_ratio,
        standardize=args.standardize,
        fit_intercept=args.fit_intercept,
        tol=args.tol,
        max_iter=args.max_iter,
    )


def _path_block(res) -> dict:
    """The per-lambda arrays of a PathResult, for the summary."""
    return {
        "lambdas": res.lambdas, "dev_ratio": res.dev_ratio, "df": res.df, "gap": res.gap, "kkt": res.kkt,
        "converged": res.converged, "n_iter": res.n_iter, "objective": res.objective,
        "lambda_max": res.lambda_max, "null_deviance": res.null_deviance,
    }


def _settings(args, res) -> dict:
    """Every setting used, with the defaults resolved (tol, lambda_min_ratio)."""
    lam = res.lambdas
    ratio = float(f"{lam[-1] / lam[0]:.12g}") if lam.size > 1 and lam[0] > 0 else args.lambda_min_ratio
    settings = path_options(args)
    settings.update(tol=res.tol, lambda_min_ratio=ratio, weights=args.weights, drop=list(args.drop))
    return settings


def _summary(args, problem, res, elapsed, caught, command) -> dict:
    import jaxreg

    return {
        "command": command,
        "jaxreg_version": jaxreg.__version__,
        "data": os.path.abspath(args.data),
        "target": args.target,
        "n": int(problem.X.shape[0]),
        "p": int(problem.X.shape[1]),
        "features": problem.feature_names,
        "one_hot": problem.encoded,
        "classes": None if res.classes is None else res.classes.tolist(),
        "settings": _settings(args, res),
        "elapsed_s": round(elapsed, 3),
        "warnings": caught,
    }


def _finish(out, summary, plots, written):
    """Write the plots and then the summary (which lists every file written); print the files."""
    pngs, note = write_plots(out, plots)
    written.extend(pngs)
    if note:
        _say(f"note: {note}")
    summary["plots"] = note or "written"
    summary_path = os.path.join(out, "summary.json")
    summary["files"] = [os.path.basename(p) for p in [*written, summary_path]]
    write_json(summary_path, summary)
    for path in [*written, summary_path]:
        print(f"wrote {path}")


def _announce(problem, args, what):
    for note in problem.notes:
        _say(f"note: {note}")
    n, p = problem.X.shape
    _say(f"{n} rows x {p} features from {args.data}; {args.family} family, target '{args.target}'; {what}")


def _report_warnings(caught):
    for message in caught:
        _say(f"warning: {message}")


def _print_classes(res, target):
    if res.classes is not None:
        negative, positive = res.classes.tolist()
        print(f"binomial model of P({target} = {positive!r}), against {negative!r}")


def cmd_path(args) -> int:
    """``jaxreg path``: one regularization path."""
    import jaxreg
    from jaxreg.plotting import plot_path

    problem = _load(args)
    out = prepare_out(args.out)
    _announce(problem, args, f"solving {args.n_lambdas} lambdas (compiling first: a few seconds)")
    caught = []
    t0 = time.perf_counter()
    with _collected_warnings(caught):
        res = jaxreg.path(problem.X, problem.y, l1_ratio=args.l1_ratio, sample_weight=problem.weights,
                          **path_options(args))
    elapsed = time.perf_counter() - t0
    _report_warnings(caught)
    _say(f"solved in {elapsed:.1f} s")
    coef_path = os.path.join(out, "coef.csv")
    write_coef_csv(coef_path, res, problem.feature_names)
    summary = _summary(args, problem, res, elapsed, caught, "path")
    summary["settings"]["l1_ratio"] = args.l1_ratio
    summary["path"] = _path_block(res)
    plots = {"path.png": lambda ax: plot_path(res, feature_names=problem.feature_names, ax=ax)}
    _print_classes(res, args.target)
    print(f"{res.n_lambdas} lambdas from {res.lambdas[0]:.4g} down to {res.lambdas[-1]:.4g}; at the smallest: "
          f"{int(res.df[-1])} non-zero coefficients, deviance explained {res.dev_ratio[-1]:.4f}; "
          f"worst relative duality gap {np.nanmax(res.gap):.2g} (tol {res.tol:.2g})")
    _finish(out, summary, plots, [coef_path])
    return 0


def _cv_block(cvr) -> dict:
    """CV curves and the chosen lambdas per l1_ratio, for the summary."""
    per_ratio = []
    for l, ratio in enumerate(cvr.l1_ratios):
        i_min, i_1se = int(cvr.index_min[l]), int(cvr.index_1se[l])
        per_ratio.append({
            "l1_ratio": ratio, "lambda_min": cvr.lambdas[l, i_min], "lambda_1se": cvr.lambdas[l, i_1se],
            "index_min": i_min, "index_1se": i_1se, "lambdas": cvr.lambdas[l],
            "cv_mean": cvr.cv_mean[l], "cv_se": cvr.cv_se[l], "path": _path_block(cvr.paths[l]),
        })
    return {
        "scoring": cvr.scoring, "n_folds": int(cvr.cv_folds.shape[1]), "best_l1_ratio": cvr.l1_ratio,
        "lambda_min": cvr.lambda_min, "lambda_1se": cvr.lambda_1se,
        "cv_mean_min": cvr.cv_mean[cvr.best, cvr.index_min[cvr.best]],
        "cv_se_min": cvr.cv_se[cvr.best, cvr.index_min[cvr.best]],
        "cv_mean_1se": cvr.cv_mean[cvr.best, cvr.index_1se[cvr.best]],
        "cv_se_1se": cvr.cv_se[cvr.best, cvr.index_1se[cvr.best]],
        "per_l1_ratio": per_ratio,
    }


def _coef_dict(cvr, s, names) -> dict:
    coef, intercept = cvr.coef(s)
    return {"intercept": intercept, **{name: float(c) for name, c in zip(names, coef)}}


def _check_scoring(args):
    allowed = _SCORINGS[args.family]
    if args.scoring not in allowed:
        raise CLIError(f"--scoring {args.scoring} is not available for --family {args.family}; "
                       f"choose from {', '.join(allowed)}")


def cmd_cv(args) -> int:
    """``jaxreg cv``: K-fold cross-validation over one or more l1_ratios."""
    import jaxreg
    from jaxreg.plotting import plot_cv, plot_path

    _check_scoring(args)
    problem = _load(args)
    if args.n_folds > problem.X.shape[0]:
        raise CLIError(f"--n-folds {args.n_folds} is more than the {problem.X.shape[0]} rows of data")
    out = prepare_out(args.out)
    n_ratios = len(args.l1_ratio)
    _announce(problem, args, f"{args.n_folds}-fold cross-validation x {n_ratios} l1_ratio(s) = "
              f"{args.n_folds * n_ratios} fold paths + {n_ratios} full-data path(s) of {args.n_lambdas} lambdas "
              "(compiling first: a few seconds per batch size)")
    caught = []
    t0 = time.perf_counter()
    with _collected_warnings(caught):
        cvr = jaxreg.cv(problem.X, problem.y, l1_ratio=args.l1_ratio, n_folds=args.n_folds, scoring=args.scoring,
                        seed=args.seed, sample_weight=problem.weights, progress=True, **path_options(args))
    elapsed = time.perf_counter() - t0
    _report_warnings(caught)
    _say(f"cross-validated in {elapsed:.1f} s")
    res = cvr.path
    coef_path = os.path.join(out, "coef.csv")
    write_coef_csv(coef_path, res, problem.feature_names)
    summary = _summary(args, problem, res, elapsed, caught, "cv")
    summary["settings"].update(l1_ratio=list(args.l1_ratio), n_folds=args.n_folds, scoring=args.scoring,
                               seed=args.seed, stratified=args.family == "binomial")
    summary["cv"] = _cv_block(cvr)
    summary["path"] = _path_block(res)
    summary["coef_lambda_min"] = _coef_dict(cvr, "lambda_min", problem.feature_names)
    summary["coef_lambda_1se"] = _coef_dict(cvr, "lambda_1se", problem.feature_names)
    plots = {
        "path.png": lambda ax: plot_path(res, feature_names=problem.feature_names, ax=ax),
        "cv.png": lambda ax: plot_cv(cvr, ax=ax),
    }
    block = summary["cv"]
    _print_classes(res, args.target)
    i_min, i_1se = cvr.index_min[cvr.best], cvr.index_1se[cvr.best]
    print(f"best l1_ratio {cvr.l1_ratio:g}; cv {cvr.scoring}: lambda_min {cvr.lambda_min:.4g} "
          f"({block['cv_mean_min']:.4g} +/- {block['cv_se_min']:.2g}, {int(res.df[i_min])} non-zero), "
          f"lambda_1se {cvr.lambda_1se:.4g} ({block['cv_mean_1se']:.4g} +/- {block['cv_se_1se']:.2g}, "
          f"{int(res.df[i_1se])} non-zero)")
    _finish(out, summary, plots, [coef_path])
    return 0


def cmd_demo(args) -> int:
    """``jaxreg demo``: what ``python -m jaxreg.demo`` does."""
    from jaxreg import demo

    return demo.run(args.out)


# --------------------------------------------------------------------------- options


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, ``jaxreg: error: ...``, and exit status 2."""

    def error(self, message):
        self.exit(EXIT_ERROR, f"jaxreg: error: {message} (see '{self.prog} --help')\n")


def _number(kind, check, requirement):
    """An argparse type: ``kind(text)`` satisfying ``check``, else a message with ``requirement``."""

    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {requirement}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {requirement}")
        return value

    return convert


_fraction = _number(float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")
_open_fraction = _number(float, lambda v: 0.0 < v < 1.0, "a number in (0, 1)")
_positive = _number(float, lambda v: np.isfinite(v) and v > 0, "a positive number")
_count = _number(int, lambda v: v >= 1, "a positive integer")
_folds = _number(int, lambda v: v >= 2, "an integer >= 2")
_seed = _number(int, lambda v: v >= 0, "a non-negative integer")


def _add_model_options(parser, *, cv):
    """Options shared by ``path`` and ``cv`` (``--l1-ratio`` takes several values for cv)."""
    parser.add_argument("data", metavar="DATA", help="CSV file (plain or .gz) with a header row, or Parquet")
    parser.add_argument("--target", required=True, metavar="COLUMN", help="the response column")
    parser.add_argument("--family", choices=("gaussian", "binomial"), default="gaussian",
                        help="gaussian (least squares) or binomial (logistic; two classes); default gaussian")
    if cv:
        parser.add_argument("--l1-ratio", type=_fraction, nargs="+", default=[1.0], metavar="F",
                            help="one or more l1_ratios in [0, 1] to compare (1 = lasso, 0 = ridge); default 1")
    else:
        parser.add_argument("--l1-ratio", type=_fraction, default=1.0, metavar="F",
                            help="l1_ratio in [0, 1] (1 = lasso, 0 = ridge); default 1")
    parser.add_argument("--n-lambdas", type=_count, default=100, metavar="K", help="lambdas on the grid; default 100")
    parser.add_argument("--lambda-min-ratio", type=_open_fraction, default=None, metavar="F",
                        help="smallest lambda / lambda_max; default 1e-4 if n > p else 1e-2")
    parser.add_argument("--no-standardize", dest="standardize", action="store_false",
                        help="penalize the coefficients of the unscaled columns")
    parser.add_argument("--no-intercept", dest="fit_intercept", action="store_false", help="fit no intercept")
    parser.add_argument("--tol", type=_positive, default=None, metavar="F",
                        help="relative duality gap certified at every lambda; default 1e-7")
    parser.add_argument("--max-iter", type=_count, default=1000, metavar="K",
                        help="inner iterations allowed per lambda; default 1000")
    parser.add_argument("--weights", metavar="COLUMN", default=None, help="column of non-negative sample weights")
    parser.add_argument("--drop", nargs="+", action="extend", default=[], metavar="COL",
                        help="columns to leave out of the features")
    parser.add_argument("--out", default="jaxreg-out", metavar="DIR", help="output folder; default ./jaxreg-out")
    if cv:
        parser.add_argument("--n-folds", type=_folds, default=10, metavar="K", help="number of folds; default 10")
        parser.add_argument("--scoring", choices=sorted({s for v in _SCORINGS.values() for s in v}),
                            default="deviance",
                            help="gaussian: deviance (= mse), mse, mae; binomial: deviance, class, auc; "
                                 "default deviance")
        parser.add_argument("--seed", type=_seed, default=0, metavar="N", help="seed of the random folds; default 0")


def make_parser() -> argparse.ArgumentParser:
    """The ``jaxreg`` argument parser with its ``path``, ``cv`` and ``demo`` commands."""
    import jaxreg

    parser = _Parser(prog="jaxreg", description="Certified elastic-net regularization paths (jaxreg).",
                     epilog="Outputs: coef.csv, summary.json, path.png (and cv.png) in --out.")
    parser.add_argument("--version", action="version", version=f"jaxreg {jaxreg.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    path = commands.add_parser("path", help="one regularization path",
                               description="Fit one elastic-net path and write its coefficients, summary and plot.")
    _add_model_options(path, cv=False)
    path.set_defaults(run=cmd_path)
    cv = commands.add_parser("cv", help="K-fold cross-validation",
                             description="Cross-validate elastic-net paths over one or more l1_ratios.")
    _add_model_options(cv, cv=True)
    cv.set_defaults(run=cmd_cv)
    demo = commands.add_parser("demo", help="a lasso path on the diabetes data shipped with jaxreg",
                               description="A lasso path on the diabetes data shipped with jaxreg.")
    demo.add_argument("--out", default="jaxreg-demo", metavar="DIR", help="output folder; default ./jaxreg-demo")
    demo.set_defaults(run=cmd_demo)
    return parser


def _fail(message) -> int:
    print(f"jaxreg: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR


def main(argv=None) -> int:
    """Run the ``jaxreg`` command; returns the exit status (0 success, 2 bad input)."""
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        return args.run(args)
    except (CLIError, ValueError) as exc:  # jaxreg reports bad input as ValueError
        return _fail(str(exc))
    except OSError as exc:  # writing the outputs
        return _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc.strerror or exc))
    except KeyboardInterrupt:
        print("jaxreg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
