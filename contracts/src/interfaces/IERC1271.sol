// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice ERC-1271: a contract account's answer to "is this signature yours for this hash?".
interface IERC1271 {
    /// @return magicValue 0x1626ba7e (this function's selector) when the signature is valid.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4 magicValue);
}
