"""The scene contract on the Python side: check a request against the JSON schema that the
Rust types generate (src/scene/contract.rs -> request.schema.json).

Only the schema keywords that schemars emits for the contract are understood; an unknown
keyword is an error at start, so the schema cannot silently outgrow this checker. Tagged
enums (`oneOf` whose branches share a `const` tag) are checked by their tag first, so a wrong
kind is reported as such and not as "matches none of 4 branches".
"""
import json
import os
import re

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "request.schema.json")
ANNOTATIONS = {"$schema", "title", "description", "format", "default", "$defs"}
UNDERSTOOD = ANNOTATIONS | {
    "$ref", "type", "properties", "required", "additionalProperties", "items", "minItems",
    "maxItems", "enum", "const", "oneOf", "anyOf", "minimum", "maximum", "pattern",
}
JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


class ContractError(ValueError):
    """A request that does not follow the scene contract."""


class Schema:
    def __init__(self, schema):
        self.root = schema
        self.defs = schema.get("$defs", {})
        self._check_keywords(schema, "#")

    @classmethod
    def from_text(cls, text):
        return cls(json.loads(text))

    @classmethod
    def from_file(cls, path=SCHEMA_FILE):
        with open(path, encoding="utf-8") as handle:
            return cls(json.load(handle))

    def tags(self, definition, tag):
        """The values of the tag `tag` of the tagged enum `definition` (e.g. Lamp, kind)."""
        return [branch["properties"][tag]["const"] for branch in self.defs[definition]["oneOf"]]

    def check(self, value):
        """Raise ContractError naming the first field that breaks the contract."""
        self._check(value, self.root, "request")

    def _check_keywords(self, node, where):
        if isinstance(node, dict):
            for key, sub in node.items():
                if key == "properties" or key == "$defs":
                    for name, child in sub.items():
                        self._check_keywords(child, f"{where}/{key}/{name}")
                    continue
                if key not in UNDERSTOOD:
                    raise ContractError(f"request.schema.json uses '{key}' at {where}, which "
                                        "synthgen_blender/contract.py does not understand.")
                if key in ANNOTATIONS:
                    continue  # a value (e.g. an object's default), not a schema
                self._check_keywords(sub, f"{where}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                self._check_keywords(child, f"{where}/{index}")

    def _resolve(self, ref):
        return self.defs[ref.rsplit("/", 1)[-1]]

    def _check(self, value, node, at):
        if "$ref" in node:
            self._check(value, self._resolve(node["$ref"]), at)
        if "type" in node:
            kinds = node["type"] if isinstance(node["type"], list) else [node["type"]]
            if not any(JSON_TYPES[k](value) for k in kinds):
                raise ContractError(f"{at} must be {' or '.join(kinds)}, got {_show(value)}.")
        if "const" in node and value != node["const"]:
            raise ContractError(f"{at} must be {json.dumps(node['const'])}, got {_show(value)}.")
        if "enum" in node and value not in node["enum"]:
            raise ContractError(
                f"{at} is {_show(value)}, expected one of: "
                f"{', '.join(json.dumps(e) for e in node['enum'])}."
            )
        if "minimum" in node and _number(value) and value < node["minimum"]:
            raise ContractError(f"{at} is {value}, below its minimum {node['minimum']}.")
        if "maximum" in node and _number(value) and value > node["maximum"]:
            raise ContractError(f"{at} is {value}, above its maximum {node['maximum']}.")
        if "pattern" in node and isinstance(value, str) and not re.search(node["pattern"], value):
            raise ContractError(f"{at} is {_show(value)}, which does not match {node['pattern']}.")
        if isinstance(value, list):
            self._check_array(value, node, at)
        if isinstance(value, dict):
            self._check_object(value, node, at)
        if "oneOf" in node:
            self._check_one_of(value, node["oneOf"], at)
        if "anyOf" in node:
            errors = []
            for branch in node["anyOf"]:
                try:
                    self._check(value, branch, at)
                    break
                except ContractError as err:
                    errors.append(str(err))
            else:
                raise ContractError(errors[0])

    def _check_array(self, value, node, at):
        if "minItems" in node and len(value) < node["minItems"]:
            raise ContractError(f"{at} has {len(value)} items, at least {node['minItems']} needed.")
        if "maxItems" in node and len(value) > node["maxItems"]:
            raise ContractError(f"{at} has {len(value)} items, at most {node['maxItems']} allowed.")
        if "items" in node:
            for index, item in enumerate(value):
                self._check(item, node["items"], f"{at}[{index}]")

    def _check_object(self, value, node, at):
        properties = node.get("properties", {})
        for name in node.get("required", []):
            if name not in value:
                raise ContractError(f"the field {at}.{name} is missing.")
        for name, child in properties.items():
            if name in value:
                self._check(value[name], child, f"{at}.{name}")
        if node.get("additionalProperties") is False:
            allowed = set(properties) | set(self._ref_properties(node))
            extra = sorted(set(value) - allowed)
            if extra:
                raise ContractError(f"{at} has the unknown field '{extra[0]}'; the contract "
                                    f"allows: {', '.join(sorted(allowed))}.")

    def _ref_properties(self, node):
        return self._resolve(node["$ref"]).get("properties", {}) if "$ref" in node else {}

    def _check_one_of(self, value, branches, at):
        tag = _tag_of(branches)
        if tag is not None and isinstance(value, dict):
            choices = [b["properties"][tag]["const"] for b in branches]
            if tag not in value:
                raise ContractError(f"the field {at}.{tag} is missing (one of: {', '.join(choices)}).")
            if value[tag] not in choices:
                raise ContractError(f"{at}.{tag} is {_show(value[tag])}, expected one of: "
                                    f"{', '.join(choices)}.")
            self._check(value, branches[choices.index(value[tag])], at)
            return
        errors = []
        for branch in branches:
            try:
                self._check(value, branch, at)
                return
            except ContractError as err:
                errors.append(str(err))
        raise ContractError(errors[0] if errors else f"{at} matches no form of the contract.")


def _tag_of(branches):
    """The property every branch pins with `const` (the serde tag), if there is one."""
    common = None
    for branch in branches:
        consts = {k for k, v in branch.get("properties", {}).items() if "const" in v}
        common = consts if common is None else common & consts
    return sorted(common)[0] if common else None


def _number(value):
    return JSON_TYPES["number"](value)


def _show(value):
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
