"""The reference's `Specification` (a semantic spec plus named statistical specs) and the base classes
its statistical specs derive from."""

from __future__ import annotations


class BaseStatSpecification:
    """The reference's interface of a statistical spec (type, save, load, dist)."""

    def __init__(self, type: str):  # noqa: A002 (the reference's name)
        self.type = type

    def generate_stat_spec(self, **kwargs):
        raise NotImplementedError("generate_stat_spec_from_data is not implemented")

    def get_states(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def dist(self, stat_spec):
        raise NotImplementedError("dist is not implemented")

    def save(self, filepath: str):
        raise NotImplementedError("save is not implemented")

    def load(self, filepath: str):
        raise NotImplementedError("load is not implemented")


class RegularStatSpecification(BaseStatSpecification):
    def generate_stat_spec(self, **kwargs):
        self.generate_stat_spec_from_data(**kwargs)

    def generate_stat_spec_from_data(self, **kwargs):
        raise NotImplementedError("generate_stat_spec_from_data is not implemented")


class Specification:
    """A learnware's semantic spec (dict) and its statistical specs by type name."""

    def __init__(self, semantic_spec: dict | None = None, stat_spec: dict | None = None):
        self.semantic_spec = semantic_spec
        self.stat_spec = {} if stat_spec is None else stat_spec

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(Semantic Specification: {type(self.semantic_spec).__name__}, "
                f"Statistical Specification: {self.stat_spec})")

    def get_stat_spec(self) -> dict:
        return self.stat_spec

    def get_semantic_spec(self) -> dict | None:
        return self.semantic_spec

    def update_semantic_spec(self, semantic_spec: dict) -> None:
        self.semantic_spec = semantic_spec

    def update_stat_spec(self, *args, **kwargs) -> None:
        for spec in args:
            self.stat_spec[spec.type] = spec
        for name, spec in kwargs.items():
            self.stat_spec[name] = spec

    def get_stat_spec_by_name(self, name: str):
        return self.stat_spec.get(name, None)
