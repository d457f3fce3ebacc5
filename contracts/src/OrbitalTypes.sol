// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {GaslessCrossChainOrder} from "./interfaces/IERC7683.sol";

/// @notice The swap an Orbital order carries in ERC-7683 `orderData` (abi.encode of this struct).
/// @dev `outputAmount` is the user's minimum; a filler may deliver more (see fillerData).
/// The settler reads both orderData layouts as OrbitalOrder32 words (an OrbitalOrder's account
/// words must then be left-padded addresses); this struct is the EVM type's definition.
struct OrbitalOrder {
    address inputToken;
    uint256 inputAmount;
    address outputToken;
    uint256 outputAmount;
    address recipient;
    uint256 destinationChainId;
}

/// @notice The swap of an order whose destination names accounts in 32 bytes (Solana: the
/// output mint and the recipient wallet are public keys, not EVM addresses).
/// @dev A second ERC-7683 orderData type rather than a widened OrbitalOrder: orderDataType is
/// how ERC-7683 tells order formats apart, and the EVM type (its typehash, the digests users
/// sign, its orderData bytes) stays exactly as it was.
struct OrbitalOrder32 {
    address inputToken;
    uint256 inputAmount;
    bytes32 outputToken;
    uint256 outputAmount;
    bytes32 recipient;
    uint256 destinationChainId;
}

/// @notice What a FillInstruction's `originData` carries to the destination.
/// @dev Everything the destination needs is in here because it cannot read the origin chain;
/// the attester checks the resulting fill against the Open event off-chain. `outputToken` and
/// `recipient` are bytes32 so one layout serves every destination: an EVM address is its
/// left-padded word, which is exactly what abi.encode(address) wrote before, so EVM originData
/// and fill keys are byte-identical to the address form.
struct FillData {
    bytes32 orderId;
    uint256 originChainId;
    uint256 destinationChainId;
    bytes32 outputToken;
    uint256 amount;
    bytes32 recipient;
    uint32 fillDeadline;
}

/// @notice Type strings, hashes and ids shared by the origin and destination roles.
/// @dev protocol/erc7683.py mirrors every constant and function here; tests check parity.
library OrbitalTypes {
    /// EIP-712 type of the nested order data, so wallets display the swap itself.
    string internal constant ORBITAL_ORDER_TYPE =
        "OrbitalOrder(address inputToken,uint256 inputAmount,address outputToken,uint256 outputAmount,address recipient,uint256 destinationChainId)";

    /// ERC-7683 orderDataType of Orbital orders: keccak256 of ORBITAL_ORDER_TYPE.
    bytes32 internal constant ORBITAL_ORDER_TYPEHASH = keccak256(
        "OrbitalOrder(address inputToken,uint256 inputAmount,address outputToken,uint256 outputAmount,address recipient,uint256 destinationChainId)"
    );

    /// EIP-712 primary type; referenced struct types are appended per EIP-712 encodeType.
    bytes32 internal constant GASLESS_ORDER_TYPEHASH = keccak256(
        "GaslessCrossChainOrder(address originSettler,address user,uint256 nonce,uint256 originChainId,uint32 openDeadline,uint32 fillDeadline,bytes32 orderDataType,OrbitalOrder orderData)"
        "OrbitalOrder(address inputToken,uint256 inputAmount,address outputToken,uint256 outputAmount,address recipient,uint256 destinationChainId)"
    );

    /// EIP-712 type of the 32-byte-account order data (OrbitalOrder32).
    string internal constant ORBITAL_ORDER32_TYPE =
        "OrbitalOrder32(address inputToken,uint256 inputAmount,bytes32 outputToken,uint256 outputAmount,bytes32 recipient,uint256 destinationChainId)";

    /// ERC-7683 orderDataType of OrbitalOrder32 orders: keccak256 of ORBITAL_ORDER32_TYPE.
    bytes32 internal constant ORBITAL_ORDER32_TYPEHASH = keccak256(
        "OrbitalOrder32(address inputToken,uint256 inputAmount,bytes32 outputToken,uint256 outputAmount,bytes32 recipient,uint256 destinationChainId)"
    );

    /// EIP-712 primary type of a gasless order carrying an OrbitalOrder32.
    bytes32 internal constant GASLESS_ORDER32_TYPEHASH = keccak256(
        "GaslessCrossChainOrder(address originSettler,address user,uint256 nonce,uint256 originChainId,uint32 openDeadline,uint32 fillDeadline,bytes32 orderDataType,OrbitalOrder32 orderData)"
        "OrbitalOrder32(address inputToken,uint256 inputAmount,bytes32 outputToken,uint256 outputAmount,bytes32 recipient,uint256 destinationChainId)"
    );

    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    /// abi.encode(OrbitalOrder), abi.encode(OrbitalOrder32) and abi.encode(FillData) lengths: all fields are static words.
    uint256 internal constant ORDER_DATA_LENGTH = 6 * 32;
    uint256 internal constant FILL_DATA_LENGTH = 7 * 32;

    /// @notice Unique per (origin chain, settler, user, nonce); independent of deadlines and
    /// amounts, so the off-chain book can name an order before it is signed.
    function orderId(uint256 originChainId, address originSettler, address user, uint256 nonce)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(originChainId, originSettler, user, nonce));
    }

    /// @notice EIP-712 struct hash of order data held in its 32-byte form `o`, under
    /// `typehash` (ORBITAL_ORDER_TYPEHASH or ORBITAL_ORDER32_TYPEHASH).
    /// @dev EIP-712 encodes an address as its left-padded word, so the words of an OrbitalOrder
    /// widened to OrbitalOrder32 hash exactly as the address struct would: one function for both.
    function hashOrderData(bytes32 typehash, OrbitalOrder32 memory o) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                typehash, o.inputToken, o.inputAmount, o.outputToken, o.outputAmount, o.recipient, o.destinationChainId
            )
        );
    }

    /// @notice EIP-712 struct hash of a gasless order whose orderData decodes to `o`; `wide`
    /// selects the OrbitalOrder32 types (the caller has checked orderDataType against it).
    function hashGaslessOrder(GaslessCrossChainOrder calldata order, OrbitalOrder32 memory o, bool wide)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                wide ? GASLESS_ORDER32_TYPEHASH : GASLESS_ORDER_TYPEHASH,
                order.originSettler,
                order.user,
                order.nonce,
                order.originChainId,
                order.openDeadline,
                order.fillDeadline,
                order.orderDataType,
                hashOrderData(wide ? ORBITAL_ORDER32_TYPEHASH : ORBITAL_ORDER_TYPEHASH, o)
            )
        );
    }

    /// @notice An address as the left-padded bytes32 word ERC-7683 Outputs and FillData use.
    function toBytes32(address a) internal pure returns (bytes32) {
        return bytes32(uint256(uint160(a)));
    }
}
