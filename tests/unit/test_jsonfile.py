"""jsonfile.dumps: valid JSON equal to the value, outer levels one item per line."""

import json

from ezpipe.jsonfile import dumps

DOCUMENT = {
    "pipeline": "p",
    "phases": {"0": [{"name": "a", "parts": {"x": 1}}, {"name": "b\u00e9", "parts": {}}]},
    "sources": {},
    "empty": [],
    "n": 2,
}


def test_the_text_is_the_value_and_each_inner_entry_is_one_line():
    text = dumps(DOCUMENT, levels=3)
    assert json.loads(text) == DOCUMENT
    lines = text.splitlines()
    assert '   {"name": "a", "parts": {"x": 1}},' in lines  # a step entry, whole, on one line
    assert any(line.strip() == '{"name": "bé", "parts": {}}' for line in lines)  # utf-8 kept


def test_levels_zero_is_compact_json_and_lists_expand_like_dicts():
    assert dumps(DOCUMENT, levels=0) == json.dumps(DOCUMENT, ensure_ascii=False)
    records = [{"a": 1}, {"b": [1, 2]}]
    assert dumps(records, levels=1).splitlines() == ["[", ' {"a": 1},', ' {"b": [1, 2]}', "]"]
    assert json.loads(dumps([], levels=2)) == []
