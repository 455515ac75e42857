"""The one model registry and the parameter rules it reads (likewise._params)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import math
import operator
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import likewise
from likewise._params import (Any_, Bool, Choice, FilePath, Float, Int, OneOf, RandomState, Str,
                              Union, params_to_json, validate)
from likewise.errors import ConfigError, MissingDependencyError, ModelFormatError
from likewise.evaluation import registry as eval_registry
from likewise.models import hybrid, registry
from likewise.models.base import Recommender

PUBLIC_CLASSES = ["Random", "Baseline", "Popularity", "UserKNN", "ItemKNN", "SVD", "SVDpp", "NMF",
                  "ALS", "ImplicitALS", "BPR", "EASE", "BayesianMF", "TorchMF", "ApproxUserKNN",
                  "ContentKNN", "ImageSimilarity", "WeightedHybrid", "SwitchingHybrid"]
KEBAB = {"ImplicitALS": "implicit-als", "ItemKNN": "item-knn", "UserKNN": "user-knn",
         "ApproxUserKNN": "approx-user-knn", "TorchMF": "torch-mf", "BayesianMF": "bayesian-mf",
         "ContentKNN": "content-knn", "ImageSimilarity": "image-similarity",
         "WeightedHybrid": "weighted-hybrid", "SwitchingHybrid": "switching-hybrid",
         "SVDpp": "svd-pp"}
FAMILY_MODULES = {"baseline", "popularity", "knn", "svd", "nmf", "als", "bpr", "ease", "bpmf",
                  "torch_mf", "approx_knn", "content", "image", "hybrid"}


# -- names, aliases, presets --------------------------------------------------------------
@pytest.mark.parametrize("cls_name", PUBLIC_CLASSES)
def test_every_public_class_resolves_by_class_name_and_alias(cls_name):
    cls = getattr(likewise, cls_name)
    spellings = [cls_name, cls_name.lower(), cls_name.upper(), f" {cls_name} ", cls,
                 f"{cls.__module__}.{cls.__qualname__}"]
    if cls_name in KEBAB:
        spellings += [KEBAB[cls_name], KEBAB[cls_name].replace("-", "_")]
    for spelling in spellings:
        assert registry.resolve(spelling)[0] is cls, spelling
    assert cls_name in registry.aliases(registry.entry(cls_name).name)
    assert issubclass(cls, Recommender)


def test_names_are_unique_and_cover_every_public_model():
    names = registry.names()
    assert len(names) == len(set(names))
    assert {e.class_name for e in registry.entries()} == set(PUBLIC_CLASSES)
    for e in registry.entries():  # every spelling finds its own entry
        assert registry.entry(e.name) is e
        for alias in e.aliases:
            assert registry.entry(alias) is e


@pytest.mark.parametrize("cls_name", PUBLIC_CLASSES)
def test_data_kind_agrees_with_the_class(cls_name):
    e = registry.entry(cls_name)
    cls = e.load_class()
    assert (e.data == registry.RATINGS) == bool(cls.requires_explicit), e
    expected = {"ContentKNN": registry.METADATA, "ImageSimilarity": registry.IMAGES,
                "WeightedHybrid": registry.SUBMODELS, "SwitchingHybrid": registry.SUBMODELS}
    if cls_name in expected:
        assert e.data == expected[cls_name]


def test_presets_and_overrides():
    assert registry.make("popularity-weighted").method == "weighted"
    mean = registry.make("popularity-mean")
    assert (mean.method, mean.min_count) == ("mean", 20)
    assert registry.make("popularity-mean", min_count=5).min_count == 5
    assert registry.make("baseline-sgd").method == "sgd"
    assert registry.make("random").random_state == 0
    assert registry.make(likewise.Random).random_state is None  # a class has no preset
    assert repr(registry.make("item-knn", k=50)) == "ItemKNN(k=50)"
    assert registry.resolve("popularity-trending") == (likewise.Popularity,
                                                        {"method": "trending"})


def test_unknown_names_and_parameters_are_clear():
    with pytest.raises(ConfigError, match="unknown model 'item-kn'; did you mean 'item-knn'"):
        registry.resolve("item-kn")
    with pytest.raises(ConfigError, match="known: random, baseline"):
        registry.make("nope")
    with pytest.raises(ConfigError, match=r"SVD has no parameter 'factrs'; valid: factors, "):
        registry.make("svd", factrs=3)


def test_listing_imports_no_model_module_and_no_extra():
    code = ("import json, sys\nfrom likewise.models import registry\n"
            "rows = [(e.name, e.summary, registry.aliases(e.name)) for e in registry.entries()]\n"
            "print(json.dumps([len(rows), sorted(m for m in sys.modules if m.startswith("
            "'likewise.models.') or m.split('.')[0] in ('torch', 'PIL', 'annoy'))]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    count, loaded = json.loads(out)
    assert count == len(registry.entries())
    loaded_names = {m.split(".")[-1] for m in loaded}
    assert "registry" in loaded_names  # the check sees what was imported
    assert not loaded_names & FAMILY_MODULES and "torch" not in loaded_names, loaded


def _pretend_missing(monkeypatch, *modules):
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name in modules else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_a_missing_extra_is_named_only_when_the_model_is_built(monkeypatch):
    _pretend_missing(monkeypatch, "torch", "annoy")
    assert "torch-mf" in registry.names()
    assert [p.name for p in registry.describe("torch-mf")][0] == "factors"
    registry.json_schema("TorchMF")
    with pytest.raises(MissingDependencyError, match=r"'torch' is needed for TorchMF.*"
                                                     r"pip install 'likewise\[torch\]'"):
        registry.make("torch-mf")
    with pytest.raises(MissingDependencyError, match=r"backend='annoy'.*likewise\[ann\]"):
        registry.make("approx-user-knn")
    assert registry.make("approx-user-knn", backend="exact").backend == "exact"
    assert registry.missing_extra("TorchMF") == "torch"
    assert registry.missing_extra("approx-user-knn", backend="hnsw") is None
    ready = eval_registry.available_models()
    assert "torch-mf" not in ready and "approx-user-knn" not in ready and "svd" in ready


# -- describe and json_schema --------------------------------------------------------------
@pytest.mark.parametrize("name", registry.names())
def test_describe_lists_every_parameter_with_rule_default_and_help(name):
    cls, preset = registry.resolve(name)
    sig = inspect.signature(cls.__init__)
    expected = {p: v.default for p, v in sig.parameters.items() if p != "self"}
    expected.update(preset)
    params = registry.describe(name)
    assert [p.name for p in params] == list(expected)
    assert set(cls._param_spec) == set(expected), "every parameter has a rule"
    for p in params:
        assert p.default == expected[p.name] or p.default is expected[p.name]
        assert p.help and p.help == cls._param_spec[p.name].help
        assert "\n" not in p.help and len(p.help) <= 120, p.help
        assert p.text and p.rule.accepts(p.default), (name, p.name, p.default)


_KNOWN_KEYWORDS = {"type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                   "anyOf", "pattern", "description", "default"}
_JSON_TYPES = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
               "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
               "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
               "null": lambda v: v is None}


def _schema_accepts(schema: dict, value) -> bool:
    """A JSON Schema validator for the keywords the rules use (jsonschema is not a
    dependency); unknown keywords fail the test rather than pass silently."""
    assert set(schema) <= _KNOWN_KEYWORDS, schema
    if "anyOf" in schema and not any(_schema_accepts(s, value) for s in schema["anyOf"]):
        return False
    if "enum" in schema and not any(value == o and type(value) is type(o)
                                    for o in schema["enum"]):
        return False
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_JSON_TYPES[t](value) for t in types):
            return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        bounds = [("minimum", operator.ge), ("maximum", operator.le),
                  ("exclusiveMinimum", operator.gt), ("exclusiveMaximum", operator.lt)]
        if any(key in schema and not ok(value, schema[key]) for key, ok in bounds):
            return False
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        return False
    return True


def _samples(rule) -> list:
    """Values on both sides of a rule's boundaries."""
    if isinstance(rule, Union):
        return [v for r in rule.rules for v in _samples(r)]
    common = [None, True, "text", 2.5, -3]
    if isinstance(rule, (Int, Float)):
        edges = [b for b in (rule.low, rule.high) if b is not None]
        return common + [e + d for e in edges for d in (-1, -0.5, 0, 0.5, 1)] + [0, 1]
    if isinstance(rule, Choice):
        return common + list(rule.options) + ["not-an-option"]
    if isinstance(rule, Str):
        return common + ["cuda:0", "cuda:x", ""]
    return common + [0, 7]


@pytest.mark.parametrize("name", registry.names())
def test_json_schema_validates_defaults_and_agrees_with_the_rules(name):
    schema = registry.json_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["description"] == registry.entry(name).summary
    params = registry.describe(name)
    assert list(schema["properties"]) == [p.name for p in params]
    json.dumps(schema)  # plain JSON
    for p in params:
        prop = schema["properties"][p.name]
        assert prop["description"] == p.help
        if "default" in prop:
            assert _schema_accepts(prop, prop["default"]), (p.name, prop)
        else:  # only a default with no JSON form (none today) may be left out
            assert p.default is not None
        if isinstance(p.rule, Any_):
            continue
        for value in _samples(p.rule):
            assert _schema_accepts(prop, value) == p.rule.accepts(value), (p.name, value, prop)


def test_json_schema_rejects_an_out_of_range_value():
    props = registry.json_schema("svd")["properties"]
    assert _schema_accepts(props["factors"], 100) and not _schema_accepts(props["factors"], 0)
    assert not _schema_accepts(props["learning_rate"], 0.0)  # exclusive minimum
    device = registry.json_schema("TorchMF")["properties"]["device"]
    assert _schema_accepts(device, "cuda:1") and not _schema_accepts(device, "tpu")
    if importlib.util.find_spec("jsonschema") is not None:  # the real validator, when present
        import jsonschema

        jsonschema.Draft202012Validator.check_schema(registry.json_schema("svd"))
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"factors": 0}, registry.json_schema("svd"))


# -- the rules --------------------------------------------------------------------------
def test_union_messages():
    rule = Union(Choice(("auto",)), Float(0))
    with pytest.raises(ConfigError, match=r"^x must be 'auto' or a number >= 0, got -1$"):
        rule.check("x", -1)
    rule.check("x", "auto")
    rule.check("x", 2)
    assert OneOf is Union
    three = Union(Choice(("auto",)), Int(0), Str(pattern="d[0-9]+", words="'dN'"))
    assert three.describe() == "'auto', an integer >= 0 or 'dN'"
    params = likewise.ContentKNN(popularity_prior=-1).get_params()
    with pytest.raises(ConfigError, match=r"^ContentKNN: popularity_prior must be 'auto' or a "
                                          r"number >= 0.0 and <= 1.0, got -1$"):
        validate("ContentKNN", likewise.ContentKNN._param_spec, params)
    with pytest.raises(ConfigError, match=r"search_dim must be 'auto' or an integer >= 0"):
        validate("ImageSimilarity", likewise.ImageSimilarity._param_spec,
                 likewise.ImageSimilarity(search_dim=-2).get_params())
    with pytest.raises(TypeError):
        Union(Int())


def test_existing_messages_are_unchanged():
    with pytest.raises(ConfigError, match=r"^SVD: factors must be an integer >= 1, got 0$"):
        validate("SVD", likewise.SVD._param_spec, likewise.SVD(factors=0).get_params())
    with pytest.raises(ConfigError, match=r"^m must be one of 'a', 'b'; got 'c'$"):
        Choice(("a", "b")).check("m", "c")
    with pytest.raises(ConfigError, match=r"^p must be a number > 0 and <= 1 or None, got 0$"):
        Float(0, 1, low_open=True, none_ok=True).check("p", 0)
    with pytest.raises(ConfigError, match="must be None, a non-negative integer or a numpy"):
        RandomState().check("random_state", -1)
    with pytest.raises(ConfigError, match=r"^b must be True or False, got 1$"):
        Bool().check("b", 1)


@pytest.mark.parametrize("rule,text,value", [
    (Int(1), "64", 64), (Int(1), " -3 ", -3), (Int(1, none_ok=True), "None", None),
    (Float(0), "1e-3", 0.001), (Float(0), "2", 2.0), (Float(none_ok=True), "null", None),
    (Choice(("auto", "onnx")), "auto", "auto"), (Choice(("auto", "onnx")), "ONNX", "onnx"),
    (Choice((None, "bm25")), "none", None), (Bool(), "true", True), (Bool(), "False", False),
    (Bool(), "no", False), (Bool(), "1", True), (Str(), "none", "none"),
    (Str(none_ok=True), "none", None), (FilePath(), "a/b", "a/b"),
    (RandomState(), "7", 7), (RandomState(), "none", None),
    (Any_(), '{"M": 16}', {"M": 16}), (Any_(), "[10, 50]", [10, 50]), (Any_(), "abc", "abc"),
    (Union(Choice(("auto",)), Float(0)), "auto", "auto"),
    (Union(Choice(("auto",)), Float(0)), "0.5", 0.5),
    (Union(Choice(("auto",)), Int(0)), "12", 12),
])
def test_parse_gives_typed_values(rule, text, value):
    parsed = rule.parse(text, "p")
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("rule,text,message", [
    (Int(1), "abc", "factors must be an integer >= 1, got 'abc'"),
    (Int(1), "6.5", "factors must be an integer >= 1, got '6.5'"),
    (Float(0), "fast", "factors must be a number >= 0, got 'fast'"),
    (Bool(), "maybe", "factors must be True or False, got 'maybe'"),
    (Choice(("a", "b")), "c", "factors must be one of 'a', 'b', got 'c'"),
    (Int(1), "none", "factors must be an integer >= 1, got 'none'"),
    (Union(Choice(("auto",)), Float(0)), "x", "factors must be 'auto' or a number >= 0, got 'x'"),
])
def test_parse_refuses_bad_text_naming_the_parameter(rule, text, message):
    with pytest.raises(ConfigError) as info:
        rule.parse(text, "factors")
    assert str(info.value) == message


def test_union_parse_keeps_an_out_of_range_number_for_check_to_name():
    rule = Union(Choice(("auto",)), Float(0))
    value = rule.parse("-1", "x")
    assert value == -1.0
    with pytest.raises(ConfigError, match="x must be 'auto' or a number >= 0"):
        rule.check("x", value)


def test_to_json_through_the_rules():
    spec = {"seed": RandomState(), "n": Int(1), "path": FilePath(none_ok=True),
            "x": Union(Choice(("auto",)), Float(0)), "obj": Any_()}
    out = params_to_json(spec, {"seed": np.random.default_rng(0), "n": np.int64(3),
                                "path": Path("a") / "b", "x": np.float32(0.5),
                                "obj": (1, np.int32(2))})
    assert out == {"seed": None, "n": 3, "path": str(Path("a") / "b"), "x": 0.5, "obj": [1, 2]}
    assert type(out["n"]) is int and type(out["x"]) is float
    with pytest.raises(ModelFormatError, match=r"^Owner: parameter obj=.* cannot be saved"):
        params_to_json(spec, {"obj": object()}, owner="Owner")
    assert Int(1).from_json(3) == 3 and math.isclose(Float().from_json(0.5), 0.5)


# -- the loader and the hybrids go through the registry -------------------------------------
@pytest.fixture(scope="module")
def saved_popularity(tmp_path_factory):
    data = likewise.synthetic(n_users=40, n_items=30, n_interactions=400, random_state=0)
    model = likewise.Popularity(min_count=np.int64(2)).fit(data)
    return model.save(tmp_path_factory.mktemp("reg") / "pop")


def _with_class(path: Path, class_path: str, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(path, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["class"] = class_path
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def test_saved_params_go_through_the_rules(saved_popularity):
    manifest = json.loads((saved_popularity / "manifest.json").read_text())
    assert manifest["params"]["min_count"] == 2 and manifest["class"].endswith(".Popularity")
    assert likewise.load(saved_popularity).min_count == 2


@pytest.mark.parametrize("class_path,message", [
    ("likewise.models.base.Recommender", "not a model in the likewise registry"),
    ("likewise.errors.ConfigError", "not a model in the likewise registry"),
    ("likewise._params.Int", "not a model in the likewise registry"),
    ("os.system", "outside likewise"),
])
def test_loader_refuses_classes_not_in_the_registry(saved_popularity, tmp_path, class_path,
                                                    message):
    with pytest.raises(ModelFormatError, match=message):
        likewise.load(_with_class(saved_popularity, class_path, tmp_path))


def test_class_for_manifest():
    assert registry.class_for_manifest("likewise.models.svd.SVD") is likewise.SVD
    # a manifest saved before a class moved between modules still finds the registry class
    assert registry.class_for_manifest("likewise.models.old_place.SVD") is likewise.SVD
    with pytest.raises(ModelFormatError, match="refusing"):
        registry.class_for_manifest("numpy.load")


def test_hybrid_specs_accept_every_registry_name():
    pop = hybrid._build({"class": "popularity-weighted"}, "model 'a'")
    assert isinstance(pop, likewise.Popularity) and pop.method == "weighted"
    knn = hybrid._build({"class": "ItemKNN", "params": {"k": 5}}, "model 'b'")
    assert isinstance(knn, likewise.ItemKNN) and knn.k == 5
    saved = hybrid._build({"class": "likewise.models.content.ContentKNN"}, "model 'c'")
    assert isinstance(saved, likewise.ContentKNN)
    with pytest.raises(ConfigError, match="model 'd': refusing to load class 'os.system'"):
        hybrid._build({"class": "os.system"}, "model 'd'")
    with pytest.raises(ConfigError, match="model 'e': unknown model 'nope'"):
        hybrid._build({"class": "nope"}, "model 'e'")
    with pytest.raises(ConfigError, match="model 'f': SVD has no parameter 'kk'"):
        hybrid._build({"class": "svd", "params": {"kk": 1}}, "model 'f'")


def test_evaluation_registry_is_a_view_of_the_model_registry():
    assert set(eval_registry.MODELS) <= set(registry.names())
    assert "weighted-hybrid" not in eval_registry.MODELS
    assert eval_registry.MODELS["popularity-weighted"] == ("Popularity", {"method": "weighted"})
    assert isinstance(eval_registry.make_model("ContentKNN"), likewise.ContentKNN)
    assert eval_registry.make_model("implicit_als", factors=8).factors == 8
