"""``indexcalc derive --steps``: the derivation as a person would write it.

For each statement, last first: the chain rule, the partial derivative with the deltas
it introduces, every contraction, and the contribution that is left; then the tidy
backward program.

    >>> print(derivation_steps("y[i] = w[j]*x[i,j]", ["w"]).splitlines()[1])
      chain rule:  dw[a] += sum[i](dy[i] * ∂y[i]/∂w[a])
"""

from __future__ import annotations

import sympy as sp

from indexcalc.calculus import contract as c
from indexcalc.language.algebra import Index, free_indices, tensor_names
from indexcalc.calculus.differentiate import needs_gradient, partial
from indexcalc.emit.text import expr_text, statement_text
from indexcalc.simplify.tidy import pretty_indices


def derivation_steps(source, wrt=None) -> str:
    from indexcalc.api import derive
    d = derive(source, wrt)
    prog, upstream = d.forward, d.upstream
    needs = needs_gradient(prog, d.wrt)
    names = {st.name: "d" + st.name for st in prog.statements} | dict(d.names)
    lines = []
    for st in reversed(prog.statements):
        if st.name not in upstream and st.name not in needs:
            continue
        up = upstream.get(st.name, names[st.name])
        dy = sp.Integer(1) if up == 1 else (sp.IndexedBase(up)[st.indices] if st.indices else sp.Symbol(up))
        lines.append(f"{statement_text(st)}   (line {st.line})")
        for name in sorted(tensor_names(st.expr) & needs, key=str):
            free = [n for n in "abcdefghpqrsuvw" if n not in _all(st.expr) | {str(i) for i in st.indices}]
            targets = tuple(Index(n) for n in free[:prog.rank(name)])
            at = f"[{','.join(map(str, targets))}]" if targets else ""
            lhs = f"{st.name}[{','.join(map(str, st.indices))}]" if st.indices else st.name
            summed = f"sum[{','.join(map(str, st.indices))}](" if st.indices else "("
            lines.append(f"  chain rule:  {names[name]}{at} += {summed}{expr_text(dy)} * ∂{lhs}/∂{name}{at})")
            part = partial(c.freshen(st.expr), name, targets)
            lines.append(f"  ∂{lhs}/∂{name}{at} = {expr_text(part, targets, explicit=True)}")
            log = []
            result = _traced(c.isum(dy * part, st.indices), log)
            lines += [f"  contract: {m}" for m in log]
            shown = pretty_indices(result, targets)
            lines.append(f"  so {names[name]}{at} += {expr_text(shown, targets, explicit=True)}")
        lines.append("")
    lines.append("backward program:")
    lines += [f"  {line}" for line in str(d).splitlines()]
    return "\n".join(lines)


def _all(e):
    return {str(i) for i in e.atoms(Index)}


def _traced(e, log):
    """Contract ``e``, noting each delta that goes and each summed-away index."""
    def contract_delta(x):
        out = c.contract_delta(x)
        if out is not None:
            gone = [i for i in x.indices if i not in getattr(out, "indices", ()) and i not in free_indices(out)]
            log.append(f"sum over {', '.join(map(str, gone)) or 'the index'} of a delta: "
                       f"{expr_text(x, explicit=True)}  ->  {expr_text(out, explicit=True)}")
        return out

    rules = [contract_delta if r is c.contract_delta else r for r in c.RULES]
    return c.rewrite(sp.sympify(e), rules)
