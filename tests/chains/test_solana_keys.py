"""The node's Solana keypairs: base58 text and a JSON array file give the same keypair;
a wrong length, a mismatched public half or a bad file is refused without quoting it."""

from __future__ import annotations

import json

import pytest
from solders.keypair import Keypair

from chains.solana import keypair_from_base58, keypair_from_file
from protocol.accounts import b58encode


def test_base58_and_file_forms_give_the_same_keypair(tmp_path):
    pair = Keypair()
    path = tmp_path / "id.json"
    path.write_text(json.dumps(list(bytes(pair))))
    assert keypair_from_base58(str(pair)) == pair == keypair_from_file(str(path))


def test_bad_keys_are_refused_without_quoting_them(tmp_path):
    pair = bytes(Keypair())
    other = bytes(Keypair())
    swapped = pair[:32] + other[32:]
    for text, reason in [("0xabc", "not base58"), (b58encode(pair[:32]), "64-byte"),
                         (b58encode(swapped), "does not match")]:
        with pytest.raises(ValueError, match=reason) as exc:
            keypair_from_base58(text, "source.keypair")
        assert str(exc.value).startswith("source.keypair") and text not in str(exc.value)
    for body, reason in [("{", "not JSON"), ('{"a": 1}', "array of bytes"),
                         ("[1, 2, 300]", "array of bytes"), (json.dumps(list(swapped)),
                                                             "does not match")]:
        path = tmp_path / "k.json"
        path.write_text(body)
        with pytest.raises(ValueError, match=reason):
            keypair_from_file(str(path))
    with pytest.raises(ValueError, match="cannot read"):
        keypair_from_file(str(tmp_path / "missing.json"))
