// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISignatureTransfer} from "../interfaces/ISignatureTransfer.sol";

/// @notice The Permit2 signing form of Orbital orders: the user signs a Permit2
/// PermitWitnessTransferFrom whose witness is the GaslessCrossChainOrder, and the settler pulls
/// the input through Permit2 (the user approved Permit2 once, never the settler).
/// @dev How openFor tells the forms apart: a Permit2-form signature is SIGNATURE_TAG (32 bytes)
/// followed by the signature Permit2 checks; anything else is the Orbital form. The permit is
/// built from the order itself (token and amount = inputToken and inputAmount, nonce = the
/// order's nonce, deadline = openDeadline, spender = this settler), so the order id rule is
/// unchanged and a signature over any other permit does not verify. docs/erc7683.md, section 3b.
library Permit2Witness {
    /// Permit2's canonical address (the same on every chain; the devnet sets its code there).
    address internal constant PERMIT2 = 0x000000000022D473030F116dDEE9F6B43aC78BA3;

    /// keccak256("Orbital.Permit2Witness"): the prefix that marks a Permit2-form signature.
    bytes32 internal constant SIGNATURE_TAG = keccak256("Orbital.Permit2Witness");

    /// Witness type strings (appended by Permit2 to its PermitWitnessTransferFrom stub): the
    /// witness is the GaslessCrossChainOrder, its referenced types follow in EIP-712 order.
    string internal constant WITNESS_TYPE_STRING =
        "GaslessCrossChainOrder witness)"
        "GaslessCrossChainOrder(address originSettler,address user,uint256 nonce,uint256 originChainId,uint32 openDeadline,uint32 fillDeadline,bytes32 orderDataType,OrbitalOrder orderData)"
        "OrbitalOrder(address inputToken,uint256 inputAmount,address outputToken,uint256 outputAmount,address recipient,uint256 destinationChainId)"
        "TokenPermissions(address token,uint256 amount)";

    string internal constant WITNESS32_TYPE_STRING =
        "GaslessCrossChainOrder witness)"
        "GaslessCrossChainOrder(address originSettler,address user,uint256 nonce,uint256 originChainId,uint32 openDeadline,uint32 fillDeadline,bytes32 orderDataType,OrbitalOrder32 orderData)"
        "OrbitalOrder32(address inputToken,uint256 inputAmount,bytes32 outputToken,uint256 outputAmount,bytes32 recipient,uint256 destinationChainId)"
        "TokenPermissions(address token,uint256 amount)";

    /// @return true when `signature` is of the Permit2 form (tag + Permit2 signature).
    function isPermit2(bytes calldata signature) internal pure returns (bool) {
        return signature.length > 32 && bytes32(signature[0:32]) == SIGNATURE_TAG;
    }

    /// @notice Pull `amount` of `token` from `user` to this contract through Permit2, with the
    /// order's struct hash as the witness; Permit2 checks the signature, the nonce (unused,
    /// then burnt) and the deadline, and reverts with its own error otherwise.
    function pull(
        address token,
        uint256 amount,
        address user,
        uint256 nonce,
        uint256 deadline,
        bytes32 orderHash,
        bool wide,
        bytes calldata signature
    ) internal {
        ISignatureTransfer(PERMIT2).permitWitnessTransferFrom(
            ISignatureTransfer.PermitTransferFrom(ISignatureTransfer.TokenPermissions(token, amount), nonce, deadline),
            ISignatureTransfer.SignatureTransferDetails(address(this), amount),
            user,
            orderHash,
            wide ? WITNESS32_TYPE_STRING : WITNESS_TYPE_STRING,
            signature[32:]
        );
    }
}
