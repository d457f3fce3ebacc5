// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {GaslessCrossChainOrder} from "./interfaces/IERC7683.sol";

/// @notice The swap an Orbital order carries in ERC-7683 `orderData` (abi.encode of this struct).
/// @dev `outputAmount` is the user's minimum; a filler may deliver more (see fillerData).
struct OrbitalOrder {
    address inputToken;
    uint256 inputAmount;
    address outputToken;
    uint256 outputAmount;
    address recipient;
    uint256 destinationChainId;
}

/// @notice What a FillInstruction's `originData` carries to the destination settler.
/// @dev Everything the destination needs is in here because it cannot read the origin chain;
/// the attester checks the resulting Filled event against the Open event off-chain.
struct FillData {
    bytes32 orderId;
    uint256 originChainId;
    uint256 destinationChainId;
    address outputToken;
    uint256 amount;
    address recipient;
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

    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    /// abi.encode(OrbitalOrder) and abi.encode(FillData) lengths: all fields are static words.
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

    function hashOrbitalOrder(OrbitalOrder memory o) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                ORBITAL_ORDER_TYPEHASH,
                o.inputToken,
                o.inputAmount,
                o.outputToken,
                o.outputAmount,
                o.recipient,
                o.destinationChainId
            )
        );
    }

    /// @notice EIP-712 struct hash of a gasless order whose orderData decodes to `o`.
    function hashGaslessOrder(GaslessCrossChainOrder calldata order, OrbitalOrder memory o)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                GASLESS_ORDER_TYPEHASH,
                order.originSettler,
                order.user,
                order.nonce,
                order.originChainId,
                order.openDeadline,
                order.fillDeadline,
                order.orderDataType,
                hashOrbitalOrder(o)
            )
        );
    }
}
