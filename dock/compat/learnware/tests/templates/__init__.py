"""`learnware.tests.templates`: pack a learnware zip the reference's way (PickleModelTemplate,
StatSpecTemplate, LearnwareTemplate.generate_learnware_zipfile). The zip has the reference's layout
(__init__.py from pickle_model.py, model.pkl, stat_spec.json, learnware.yaml with `module_path:
learnware.specification`, requirements.txt), so the same zip loads in the reference and in lwdock.
The yaml is written with a plain safe dumper (tuples as lists), where the reference writes
`!!python/tuple`, which its own client then fails to read back; lwdock reads both."""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from shutil import copyfile
from typing import Any

import yaml

_HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class ModelTemplate:
    class_name: str = field(init=False)
    template_path: str = field(init=False)
    model_kwargs: dict = field(init=False)


@dataclass
class PickleModelTemplate(ModelTemplate):
    model_kwargs: dict
    pickle_filepath: str

    def __post_init__(self):
        self.class_name = "PickleLoadedModel"
        self.template_path = os.path.join(_HERE, "pickle_model.py")
        defaults = {"predict_method": "predict", "fit_method": "fit", "finetune_method": "finetune",
                    "pickle_filename": "model.pkl"}
        defaults.update(self.model_kwargs)
        self.model_kwargs = defaults


@dataclass
class StatSpecTemplate:
    filepath: str
    type: str = field(default="RKMETableSpecification")


def _plain(value):
    """Tuples as lists, recursively (yaml.safe_dump writes no python tags)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class LearnwareTemplate:
    @staticmethod
    def generate_requirements(filepath, requirements=None) -> None:
        operators = {"==", "~=", ">=", "<=", ">", "<"}
        lines = []
        for requirement in requirements or []:
            if isinstance(requirement, str):
                lines.append(requirement.strip())
            elif isinstance(requirement, tuple):
                if requirement[1] not in operators:
                    raise AssertionError("The operator of requirements is not supported.")
                lines.append(requirement[0].strip() + requirement[1].strip() + requirement[2].strip())
            else:
                raise TypeError(f"requirement must be type str/tuple, rather than {type(requirement)}")
        with open(filepath, "w", encoding="utf-8") as fout:
            fout.write("".join(line + "\n" for line in lines))

    @staticmethod
    def generate_learnware_yaml(filepath, model_config: dict | None = None,
                                stat_spec_config: list | None = None) -> None:
        config: dict[str, Any] = {}
        if model_config is not None:
            config["model"] = model_config
        if stat_spec_config is not None:
            config["stat_specifications"] = stat_spec_config
        with open(filepath, "w", encoding="utf-8") as fout:
            yaml.safe_dump(_plain(config), fout, sort_keys=False)

    @staticmethod
    def generate_learnware_zipfile(learnware_zippath: str, model_template: ModelTemplate,
                                   stat_spec_template: StatSpecTemplate, requirements=None) -> None:
        with tempfile.TemporaryDirectory(suffix="learnware_template") as tempdir:
            LearnwareTemplate.generate_requirements(os.path.join(tempdir, "requirements.txt"), requirements)
            copyfile(model_template.template_path, os.path.join(tempdir, "__init__.py"))
            stat_spec_config: dict[str, Any] = {"module_path": "learnware.specification",
                                                "class_name": stat_spec_template.type,
                                                "file_name": "stat_spec.json", "kwargs": {}}
            copyfile(stat_spec_template.filepath, os.path.join(tempdir, "stat_spec.json"))
            LearnwareTemplate.generate_learnware_yaml(
                os.path.join(tempdir, "learnware.yaml"),
                {"class_name": model_template.class_name, "kwargs": model_template.model_kwargs},
                stat_spec_config=[stat_spec_config])
            if isinstance(model_template, PickleModelTemplate):
                copyfile(model_template.pickle_filepath,
                         os.path.join(tempdir, model_template.model_kwargs["pickle_filename"]))
            with zipfile.ZipFile(learnware_zippath, "w", zipfile.ZIP_DEFLATED) as zf:
                for name in sorted(os.listdir(tempdir)):
                    zf.write(os.path.join(tempdir, name), arcname=name)


__all__ = ["LearnwareTemplate", "ModelTemplate", "PickleModelTemplate", "StatSpecTemplate"]
