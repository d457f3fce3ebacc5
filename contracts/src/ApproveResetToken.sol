// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TestToken} from "./TestToken.sol";

/// @notice A TestToken with USDT's approve race guard, for tests of allowance funding: an
/// allowance can be set from zero, or to zero, but not changed from one non-zero value to
/// another (the owner must approve 0 first).
/// @dev Devnet tests only; not deployed as a configured token (tests put its code where they
/// need it).
contract ApproveResetToken is TestToken {
    error NonZeroAllowance(address spender, uint256 current, uint256 requested);

    constructor(string memory name_, string memory symbol_, uint8 decimals_)
        TestToken(name_, symbol_, decimals_) {}

    function approve(address spender, uint256 amount) public override returns (bool) {
        uint256 current = allowance[msg.sender][spender];
        if (current != 0 && amount != 0) revert NonZeroAllowance(spender, current, amount);
        return super.approve(spender, amount);
    }
}
