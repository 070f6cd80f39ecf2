"""Solvers: the penalized quadratic subproblem and the working-set path program."""

from jaxreg.solvers.quadratic import QuadProblem, QuadSolution, solve_quadratic

__all__ = ["QuadProblem", "QuadSolution", "solve_quadratic"]
