// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Strict ecrecover for 65-byte (r, s, v) signatures.
/// @dev Strict on purpose: a high-s twin or a v of 0/1 is another encoding of the same signature,
/// and the off-chain book treats a signature as an identity, so only the canonical form passes.
library ECDSA {
    /// secp256k1n / 2: the largest canonical s (EIP-2).
    uint256 internal constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    error InvalidSignatureLength(uint256 length);
    error InvalidSignatureS();
    error InvalidSignatureV(uint8 v);
    error InvalidSignature();

    /// @return signer the address that signed `digest`; reverts rather than returning zero.
    function recover(bytes32 digest, bytes calldata signature) internal pure returns (address signer) {
        if (signature.length != 65) revert InvalidSignatureLength(signature.length);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > HALF_ORDER) revert InvalidSignatureS();
        if (v != 27 && v != 28) revert InvalidSignatureV(v);
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature();
    }

    /// @return the EIP-712 digest of `structHash` under `domainSeparator`.
    function typedDataDigest(bytes32 domainSeparator, bytes32 structHash) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", domainSeparator, structHash));
    }
}
