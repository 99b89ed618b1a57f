"""The round-trip proof (indexcalc/derivation/proof.py) catches a printout that does not say
what was derived: a swapped index, a wrong sign, a wrong name, a dropped term, a wrong
constant, each fails it, whether the check of the forward program is resumed or the whole
text is checked again; a printout that differs only in the names of summed indices passes.
And the parse without positions that the proof and ``ic.parse`` use gives the program the
parse with positions gives, and words the same warnings."""

import warnings

import pytest

import indexcalc as ic
import indexcalc.derivation.proof as proof_mod
from indexcalc.derivation.proof import _reparse, prove, reparse
from indexcalc.errors import IndexCalcWarning, ParseError, ProgramError
from indexcalc.language.check import check
from indexcalc.language.parser import parse_tree
from indexcalc.language.resume import resume
from indexcalc.notation.text import statement_text

MLP = "y[i] = W[i,j]*x[j] + b[i]\nL = sum[i](tanh(y[i])*t[i])"
SOFTMAX = "y[i,j] = exp(x[i,j])/sum[k](exp(x[i,k]))"
SQUARES = "L = sum[i,j]((X[i,k]*W[k,j] - Y[i,j])^2)"

# (program, printed line, corrupted line): each corruption means something else
CORRUPT = [
    (MLP, "dW[i,j] = dy[i]*x[j]", "dW[i,j] = dy[j]*x[i]"),           # swapped indices
    (MLP, "dx[j] = W[i,j]*dy[i]", "dx[j] = W[j,i]*dy[i]"),           # swapped at one tensor
    (MLP, "dx[j] = W[i,j]*dy[i]", "dx[j] = -W[i,j]*dy[i]"),          # wrong sign
    (MLP, "dy[i] = t[i]*(1 - tanh(y[i])^2)", "dy[i] = t[i]*(1 + tanh(y[i])^2)"),  # sign inside
    (MLP, "dW[i,j] = dy[i]*x[j]", "dW[i,j] = y[i]*x[j]"),            # wrong name
    (MLP, "dt[i] = tanh(y[i])", "dt[i] = tanh(t[i])"),               # wrong name
    (MLP, "dt[i] = tanh(y[i])", "dt[i] = sinh(y[i])"),               # wrong function
    (MLP, "db[i] = dy[i]", "db[i] = dy[i] + x[i]"),                  # an added term
    (SOFTMAX, "dx[i,j] = y[i,j]*(dy[i,j] - dy[i,k]*y[i,k])", "dx[i,j] = y[i,j]*dy[i,j]"),  # dropped term
    (SOFTMAX, "dx[i,j] = y[i,j]*(dy[i,j] - dy[i,k]*y[i,k])",
     "dx[i,j] = y[i,j]*(dy[i,j] - dy[i,k]*y[k,i])"),                 # swapped under a sum
    (SOFTMAX, "dx[i,j] = y[i,j]*(dy[i,j] - dy[i,k]*y[i,k])",
     "dx[i,j] = y[i,j]*(dy[i,j] - dy[i,j]*y[i,j])"),                 # a summed index made free
    (SQUARES, "dX[i,k] = 2*t2[j,i]*W[k,j]", "dX[i,k] = 3*t2[j,i]*W[k,j]"),  # wrong constant
    (SQUARES, "dY[i,j] = 2*(Y[i,j] - t1[j,i])", "dY[i,j] = 2*(Y[i,j] - t1[i,j])"),  # transposed
    (SQUARES, "dY[i,j] = 2*(Y[i,j] - t1[j,i])", "dY[i,j] = 2*(t1[j,i] - Y[i,j])"),  # sign
]

# printouts that say the same with other names of summed indices: they pass
RENAMED = [
    (MLP, "dx[j] = W[i,j]*dy[i]", "dx[j] = W[m,j]*dy[m]"),
    (SOFTMAX, "dx[i,j] = y[i,j]*(dy[i,j] - dy[i,k]*y[i,k])", "dx[i,j] = y[i,j]*(dy[i,j] - dy[i,m]*y[i,m])"),
    (SQUARES, "t1[j,i] = W[k,j]*X[i,k]", "t1[j,i] = X[i,n]*W[n,j]"),
]


def _derived(source):
    d = ic.derive(source)
    lines = [statement_text(st) for st in d.statements]
    return d, lines


def _bad(d, lines, resumed):
    before, skip = d.forward.source, len(d.forward.statements)
    start = resume(d.forward, before) if resumed else None
    assert (start is not None) == resumed
    return _reparse(d.statements, lines, before, skip, start)[1]


@pytest.mark.parametrize("resumed", [True, False], ids=["resumed", "whole"])
@pytest.mark.parametrize("source, line, corrupted", CORRUPT)
def test_a_corrupted_printout_fails_the_proof(source, line, corrupted, resumed):
    d, lines = _derived(source)
    assert _bad(d, lines, resumed) == []  # the printout as printed passes
    k = lines.index(line)
    lines[k] = corrupted
    assert k in _bad(d, lines, resumed)


@pytest.mark.parametrize("resumed", [True, False], ids=["resumed", "whole"])
@pytest.mark.parametrize("source, line, renamed", RENAMED)
def test_other_names_of_summed_indices_pass_the_proof(source, line, renamed, resumed):
    d, lines = _derived(source)
    lines[lines.index(line)] = renamed
    assert _bad(d, lines, resumed) == []


def test_a_corrupting_printer_is_caught_and_its_line_printed_explicitly(monkeypatch):
    d, lines = _derived(MLP)
    printer = proof_mod.statement_text

    def corrupting(st, **kw):
        text = printer(st, **kw)
        return text.replace("dy[i]*x[j]", "dy[j]*x[i]") if not kw else text

    monkeypatch.setattr(proof_mod, "statement_text", corrupting)
    out, program = prove(d.statements, d.forward.source, len(d.forward.statements), d.forward)
    assert program is not None and "dW[i,j] = dy[j]*x[i]" not in out
    k = lines.index("dW[i,j] = dy[i]*x[j]")
    assert out[k] == printer(d.statements[k], explicit=True) and out[:k] == lines[:k]


SOURCES = [MLP, SOFTMAX, SQUARES, "y[i] = x[i] + z[j]", "L = log(1 + exp(-y[n]*X[n,d]*w[d]))",
           "y[a] = max[k:3](x[a+k]); z[a] = y[a]*w[a]", "h[i] = W[i,j]*x[j]; L = sum[i](h[i]^2)\n# c\n y = L; q = 2"]


@pytest.mark.parametrize("source", SOURCES)
def test_the_parse_without_positions_checks_to_the_same_program(source):
    with warnings.catch_warnings(record=True) as with_places:
        warnings.simplefilter("always")
        a = check(parse_tree(source), source)
    with warnings.catch_warnings(record=True) as without:
        warnings.simplefilter("always")
        b = reparse(source)
    assert [str(w.message) for w in without] == [str(w.message) for w in with_places]
    for f in ("statements", "inputs", "outputs", "ranks", "source", "first_indices", "notes",
              "integers", "recurrences"):
        assert repr(getattr(a, f)) == repr(getattr(b, f)), f
    assert [(st.line, st.text) for st in a.statements] == [(st.line, st.text) for st in b.statements]
    plain = check(parse_tree(source, positions=False), source, positions=False)
    assert (plain is None) == bool(a.notes)  # a note to word: checked again with positions


@pytest.mark.parametrize("source", ["y[i,] = x[i]", "y = (x[i]", "y[i] = x[i] @ w", "y[i] = x[j]",
                                    "y[i] = x[i]; y[i] = z[i]", "y = 1/0"])
def test_errors_are_the_same_without_positions(source):
    with pytest.raises((ParseError, ProgramError)) as want:
        check(parse_tree(source), source)
    with pytest.raises(type(want.value)) as got:
        reparse(source)
    assert str(got.value) == str(want.value)


def test_a_note_in_a_printed_line_is_found_without_positions():
    # a printout whose line would warn is printed explicitly (proof._reparse's ``noted``)
    text = "y[i] = x[i]\nL = log(1 + exp(-y[n]*X[n,d]*w[d]))"
    program = reparse(text, warn=False, derived_from=1)
    assert [n for n, _ in program.notes] == [1] and "implicit contraction" in program.notes[0][1]
    with warnings.catch_warnings():
        warnings.simplefilter("error", IndexCalcWarning)
        reparse(text, warn=False, derived_from=1)
