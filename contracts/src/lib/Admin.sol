// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Single admin (the deployer), transferable; the base of every role-holding contract.
/// @dev Roles other than admin (attester, relayer) live in the contracts that use them, each set by
/// the admin, so a compromised operational key can be rotated without redeploying.
abstract contract Admin {
    address public admin;

    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);

    error Unauthorized(address caller);
    error ZeroAddress();

    constructor() {
        admin = msg.sender;
        emit AdminTransferred(address(0), msg.sender);
    }

    modifier onlyAdmin() {
        if (msg.sender != admin) revert Unauthorized(msg.sender);
        _;
    }

    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert ZeroAddress();
        emit AdminTransferred(admin, newAdmin);
        admin = newAdmin;
    }
}
