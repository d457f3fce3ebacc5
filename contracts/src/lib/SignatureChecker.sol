// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "./ECDSA.sol";
import {IERC1271} from "../interfaces/IERC1271.sol";

/// @notice Whether `user` signed `digest`: an externally owned account by strict ECDSA (as
/// before), a smart-contract wallet (an account with code) by its own ERC-1271 answer.
/// @dev A contract wallet is asked only when the strict ECDSA signature does not recover to
/// `user` itself: a key's signature is conclusive for its own address whatever code the
/// account carries, and this is the order the node checks in (cheap recovery first, then one
/// eth_call), so the node and the settler accept exactly the same signatures. Refusals name
/// the wallet's answer or its revert data, which the node shows the user unchanged.
library SignatureChecker {
    /// isValidSignature's selector: what a wallet answers for a valid signature.
    bytes4 internal constant ERC1271_MAGIC = 0x1626ba7e;
    /// The most of a wallet's reply (answer or revert data) that is kept.
    uint256 internal constant MAX_RETURN = 256;

    error InvalidContractSignature(address wallet, bytes4 answer);
    error ContractSignatureReverted(address wallet, bytes reason);

    /// @return signer who `signature` over `digest` stands for: for an account without code
    /// the strict ECDSA signer (reverting as ECDSA.recover does; the caller compares it with
    /// `user`), for a contract wallet `user` itself once the wallet accepted it (reverting
    /// with the wallet's answer or its revert data otherwise).
    function signerFor(address user, bytes32 digest, bytes calldata signature)
        internal
        view
        returns (address signer)
    {
        if (user.code.length == 0) return ECDSA.recover(digest, signature);
        if (tryRecover(digest, signature) == user) return user;
        (bool ok, bytes memory ret) = _ask(user, digest, signature);
        if (!ok) revert ContractSignatureReverted(user, ret);
        // A reply shorter than one word (no such function behind a fallback) answers nothing.
        bytes4 answer = ret.length >= 32 ? bytes4(abi.decode(ret, (bytes32))) : bytes4(0);
        if (answer != ERC1271_MAGIC) revert InvalidContractSignature(user, answer);
        return user;
    }

    /// @dev isValidSignature, keeping at most MAX_RETURN bytes of what the wallet returns or
    /// reverts with: a wallet cannot make the caller (the filler opening its order) pay for
    /// copying an arbitrarily large reply into memory.
    function _ask(address wallet, bytes32 digest, bytes calldata signature)
        private
        view
        returns (bool ok, bytes memory ret)
    {
        bytes memory data = abi.encodeCall(IERC1271.isValidSignature, (digest, signature));
        uint256 size;
        assembly ("memory-safe") {
            ok := staticcall(gas(), wallet, add(data, 0x20), mload(data), 0, 0)
            size := returndatasize()
        }
        if (size > MAX_RETURN) size = MAX_RETURN;
        ret = new bytes(size);
        assembly ("memory-safe") {
            returndatacopy(add(ret, 0x20), 0, size)
        }
    }

    /// @return signer the strict ECDSA signer of `digest` (65 bytes, low s, v in {27, 28}), or
    /// the zero address for anything ECDSA.recover would refuse; never reverts.
    function tryRecover(bytes32 digest, bytes calldata signature) internal pure returns (address signer) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > ECDSA.HALF_ORDER || (v != 27 && v != 28)) return address(0);
        return ecrecover(digest, v, r, s);
    }
}
