// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC1271} from "./interfaces/IERC1271.sol";
import {SignatureChecker} from "./lib/SignatureChecker.sol";

/// @notice A minimal one-owner smart-contract wallet for the devnet and its tests: it holds
/// tokens, its owner (an EOA) makes it call anything (`execute`, e.g. to approve the settler),
/// and it signs orders the ERC-1271 way: a signature is valid when the owner's key made it.
/// @dev Not a wallet to hold real money: no nonce or module system, no replay protection of
/// its own beyond what the signed message carries (an Orbital order names its user, this
/// wallet, so the owner's signature for it cannot be replayed for another wallet or for the
/// owner's own account).
contract SimpleWallet is IERC1271 {
    /// What isValidSignature answers for a signature that is not the owner's.
    bytes4 public constant INVALID = 0xffffffff;

    address public immutable owner;

    event Executed(address indexed target, uint256 value, bytes data);

    error Unauthorized(address caller);
    error ZeroAddress();
    error CallFailed(address target, bytes reason);

    constructor(address owner_) {
        if (owner_ == address(0)) revert ZeroAddress();
        owner = owner_;
    }

    receive() external payable {}

    /// @notice ERC-1271: valid when `signature` is the owner's strict ECDSA signature of
    /// `hash`; anything else (another key, a malformed signature) is answered, not reverted.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        return SignatureChecker.tryRecover(hash, signature) == owner ? SignatureChecker.ERC1271_MAGIC : INVALID;
    }

    /// @notice The owner makes the wallet call `target` (ERC-20 approve, transfer, ...).
    function execute(address target, uint256 value, bytes calldata data) external returns (bytes memory) {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        (bool ok, bytes memory ret) = target.call{value: value}(data);
        if (!ok) revert CallFailed(target, ret);
        emit Executed(target, value, data);
        return ret;
    }
}
