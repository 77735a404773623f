"""Property-based tests: whatever is in a config file, the answer is one ConfigError naming
the key (or the TOML syntax problem), never another exception."""

from __future__ import annotations

import dataclasses
import json
import math
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detection.config import Config, ConfigError, loads_config, to_dict

SECTIONS = {
    name: [f.name for f in dataclasses.fields(type(getattr(Config(), name)))]
    for name in to_dict(Config())
    if name != "pairs"
}
MINIMAL = '[stream]\nname = "Amp"\n\n[[pairs]]\nname = "FDI"\nleft = "FDI-L"\nright = "FDI-R"\n'


def _toml_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


toml_values = st.one_of(
    st.integers(-(10**9), 10**9).map(str),
    st.floats().map(_toml_float),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.text(string.printable, max_size=12).map(json.dumps),  # JSON escapes are TOML escapes
    st.lists(st.integers(-5, 5), max_size=4).map(lambda xs: f"[{', '.join(map(str, xs))}]"),
    st.just("{ a = 1 }"),
    st.just("1979-05-27T07:32:00Z"),
)


def _problem(text: str) -> str | None:
    """The ConfigError message for a text, or None if it is a valid config.

    Anything other than a ConfigError propagates and fails the test.
    """
    try:
        loads_config(text, source="fuzz.toml")
    except ConfigError as err:
        problems = err.problems
        message = str(err)
    else:
        return None
    assert problems
    assert all(isinstance(p, str) and p for p in problems)
    return message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    section=st.sampled_from(sorted(SECTIONS)),
    data=st.data(),
    value=toml_values,
)
def test_any_value_for_any_key_is_accepted_or_named(section, data, value):
    key = data.draw(st.sampled_from(SECTIONS[section]))
    text = MINIMAL + f"\n[{section}]\n{key} = {value}\n"
    if section == "stream":
        text = MINIMAL.replace('name = "Amp"\n', f'name = "Amp"\n{key} = {value}\n', 1)
        if key == "name":
            text = MINIMAL.replace('name = "Amp"', f"name = {value}", 1)
    problem = _problem(text)
    assert problem is None or f"{section}.{key}" in problem or "not valid TOML" in problem


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_config_or_one_config_error(text):
    problem = _problem(text)
    assert problem is None or problem.startswith("invalid config fuzz.toml:")


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(string.ascii_letters, min_size=1, max_size=8),
    value=toml_values,
)
def test_unknown_keys_are_named(name, value):
    text = MINIMAL + f"\n[detector]\nx_{name} = {value}\n"
    problem = _problem(text)
    assert problem is not None, "an unknown key must be refused"
    assert f"detector.x_{name}: unknown key" in problem or "not valid TOML" in problem


@settings(max_examples=200, deadline=None)
@given(left=toml_values, right=toml_values, name=toml_values)
def test_pairs_with_any_values_are_accepted_or_named(left, right, name):
    text = f'[stream]\nname = "Amp"\n[[pairs]]\nname = {name}\nleft = {left}\nright = {right}\n'
    problem = _problem(text)
    assert problem is None or "pairs" in problem or "not valid TOML" in problem
