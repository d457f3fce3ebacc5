// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SafeTransfer} from "./lib/SafeTransfer.sol";
import {Admin} from "./lib/Admin.sol";

/// @notice Lock-and-release bridge the rebalancer uses to move inventory between devnet chains.
/// @dev Trust model of a devnet: one relayer key watches BridgeDeposit on one chain and calls
/// release on the other, paying out of this contract's pre-seeded liquidity. Token addresses are
/// the destination chain's (the relayer maps them; on the devnet they are identical).
contract Bridge is Admin {
    using SafeTransfer for address;

    address public relayer;
    uint256 public depositCount;
    mapping(bytes32 depositId => bool) public released;

    event BridgeDeposit(
        bytes32 indexed depositId,
        address indexed sender,
        address token,
        uint256 amount,
        uint256 destinationChainId,
        address recipient
    );
    event BridgeRelease(
        bytes32 indexed depositId, address indexed recipient, address token, uint256 amount, uint256 originChainId
    );
    event RelayerSet(address indexed previousRelayer, address indexed relayer);

    error InvalidAmount();
    error InvalidDestination(uint256 chainId);
    error AlreadyReleased(bytes32 depositId);

    constructor(address relayer_) {
        if (relayer_ == address(0)) revert ZeroAddress();
        relayer = relayer_;
        emit RelayerSet(address(0), relayer_);
    }

    function setRelayer(address relayer_) external onlyAdmin {
        if (relayer_ == address(0)) revert ZeroAddress();
        emit RelayerSet(relayer, relayer_);
        relayer = relayer_;
    }

    /// @notice The id the next deposit will get: unique across chains and bridge deployments.
    function nextDepositId() public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), depositCount));
    }

    function deposit(address token, uint256 amount, uint256 destinationChainId, address recipient)
        external
        returns (bytes32 depositId)
    {
        if (amount == 0) revert InvalidAmount();
        if (recipient == address(0)) revert ZeroAddress();
        if (destinationChainId == block.chainid || destinationChainId == 0) {
            revert InvalidDestination(destinationChainId);
        }
        depositId = nextDepositId();
        ++depositCount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit BridgeDeposit(depositId, msg.sender, token, amount, destinationChainId, recipient);
    }

    function release(bytes32 depositId, address token, uint256 amount, address recipient, uint256 originChainId)
        external
    {
        if (msg.sender != relayer) revert Unauthorized(msg.sender);
        if (released[depositId]) revert AlreadyReleased(depositId);
        if (amount == 0) revert InvalidAmount();
        if (recipient == address(0)) revert ZeroAddress();
        released[depositId] = true;
        token.safeTransfer(recipient, amount);
        emit BridgeRelease(depositId, recipient, token, amount, originChainId);
    }
}
