// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {OriginSettler} from "./OriginSettler.sol";
import {DestinationSettler} from "./DestinationSettler.sol";

/// @notice Orbital's settler: both ERC-7683 roles in one contract, deployed at the same address on
/// every chain, so each chain is origin for its own orders and destination for the others'.
contract OrbitalSettler is OriginSettler, DestinationSettler {
    constructor(address attester_) OriginSettler(attester_) {}
}
