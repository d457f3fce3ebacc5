// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IDestinationSettler} from "./interfaces/IERC7683.sol";
import {FillData, OrbitalTypes} from "./OrbitalTypes.sol";
import {SafeTransfer} from "./lib/SafeTransfer.sol";

/// @notice ERC-7683 destination role: the filler pays the user here and the Filled event is the
/// evidence the attester relays to the origin chain.
/// @dev A fill is keyed by keccak256(originData) (the "fill key"), not by orderId alone: the
/// destination cannot read the origin chain, so keying by orderId would let anyone "fill" a real
/// order id with bogus parameters first and block the genuine fill. Anyone may fill any
/// originData, so several fills can name one orderId; `Filled` carries the fill key, and the
/// origin's escrow records the fill key of the originData it was opened with: only the fill of
/// exactly that key is repaid (OriginSettler.settle checks it).
abstract contract DestinationSettler is IDestinationSettler {
    using SafeTransfer for address;

    /// fill key (keccak256(originData)) => repayment address of the filler.
    mapping(bytes32 fillKey => address) public fills;

    event Filled(
        bytes32 indexed orderId,
        address indexed filler,
        bytes32 indexed fillKey,
        address recipient,
        address token,
        uint256 amount,
        uint256 originChainId
    );

    error InvalidOriginData();
    error OrderIdMismatch(bytes32 expected, bytes32 got);
    error WrongDestinationChain(uint256 expected, uint256 got);
    error FillDeadlinePassed(uint32 fillDeadline);
    error OrderAlreadyFilled(bytes32 orderId);
    error FillAmountTooLow(uint256 minimum, uint256 amount);
    error InvalidRepaymentData();

    /// @param originData abi.encode(FillData) exactly as the origin's FillInstruction carries it.
    /// @param fillerData empty (repay msg.sender, pay the minimum), abi.encode(address repayment),
    /// or abi.encode(address repayment, uint256 amount) to deliver more than the minimum.
    function fill(bytes32 orderId, bytes calldata originData, bytes calldata fillerData) external {
        if (originData.length != OrbitalTypes.FILL_DATA_LENGTH) revert InvalidOriginData();
        FillData memory f = abi.decode(originData, (FillData));
        if (f.orderId != orderId) revert OrderIdMismatch(orderId, f.orderId);
        if (f.destinationChainId != block.chainid) revert WrongDestinationChain(block.chainid, f.destinationChainId);
        if (block.timestamp > f.fillDeadline) revert FillDeadlinePassed(f.fillDeadline);
        bytes32 key = keccak256(originData);
        if (fills[key] != address(0)) revert OrderAlreadyFilled(orderId);
        address token = _evmAddress(f.outputToken);
        address recipient = _evmAddress(f.recipient);
        (address repayment, uint256 amount) = _fillerTerms(fillerData, f.amount);
        fills[key] = repayment;
        token.safeTransferFrom(msg.sender, recipient, amount);
        emit Filled(orderId, repayment, key, recipient, token, amount, f.originChainId);
    }

    /// @notice Repayment address recorded for `originData`, zero when not filled.
    function filledBy(bytes calldata originData) external view returns (address) {
        return fills[keccak256(originData)];
    }

    /// @dev FillData carries accounts as bytes32; here, an EVM chain, they must be left-padded
    /// addresses (what abi.decode into an address refused before FillData was widened).
    function _evmAddress(bytes32 word) private pure returns (address) {
        if (uint256(word) >> 160 != 0) revert InvalidOriginData();
        return address(uint160(uint256(word)));
    }

    function _fillerTerms(bytes calldata fillerData, uint256 minimum)
        private
        view
        returns (address repayment, uint256 amount)
    {
        if (fillerData.length == 0) return (msg.sender, minimum);
        if (fillerData.length == 32) {
            repayment = abi.decode(fillerData, (address));
            amount = minimum;
        } else if (fillerData.length == 64) {
            (repayment, amount) = abi.decode(fillerData, (address, uint256));
            if (amount < minimum) revert FillAmountTooLow(minimum, amount);
        } else {
            revert InvalidRepaymentData();
        }
        if (repayment == address(0)) revert InvalidRepaymentData();
    }
}
