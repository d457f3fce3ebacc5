// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SafeTransfer} from "./lib/SafeTransfer.sol";

/// @notice x*y=k pool with a 0.3% input fee (Uniswap v2 math) so the quoter and the rebalancer
/// have an on-chain market to price against and swap through on the devnet.
/// @dev Liquidity shares are internal balances, not an ERC-20: nothing on the devnet trades them.
contract ConstantProductPool {
    using SafeTransfer for address;

    uint256 public constant FEE_BPS = 30;
    uint256 private constant BPS = 10_000;

    address public immutable token0;
    address public immutable token1;
    uint256 public reserve0;
    uint256 public reserve1;
    uint256 public totalShares;
    mapping(address provider => uint256) public shares;

    event LiquidityAdded(address indexed provider, uint256 amount0, uint256 amount1, uint256 shares);
    event LiquidityRemoved(address indexed provider, uint256 amount0, uint256 amount1, uint256 shares);
    event Swap(address indexed sender, address indexed tokenIn, uint256 amountIn, uint256 amountOut, address to);

    error InvalidToken(address token);
    error InvalidAmount();
    error InsufficientLiquidity();
    error InsufficientOutput(uint256 amountOut, uint256 minAmountOut);

    constructor(address token0_, address token1_) {
        if (token0_ == token1_ || token0_ == address(0) || token1_ == address(0)) revert InvalidToken(token1_);
        token0 = token0_;
        token1 = token1_;
    }

    function getReserves() external view returns (uint256, uint256) {
        return (reserve0, reserve1);
    }

    /// @notice Output for `amountIn` of `tokenIn` after the fee, at current reserves.
    function getAmountOut(uint256 amountIn, address tokenIn) public view returns (uint256) {
        (uint256 reserveIn, uint256 reserveOut) = _reservesFor(tokenIn);
        if (amountIn == 0) revert InvalidAmount();
        if (reserveIn == 0 || reserveOut == 0) revert InsufficientLiquidity();
        uint256 inWithFee = amountIn * (BPS - FEE_BPS);
        return (inWithFee * reserveOut) / (reserveIn * BPS + inWithFee);
    }

    function swap(address tokenIn, uint256 amountIn, uint256 minAmountOut, address to)
        external
        returns (uint256 amountOut)
    {
        amountOut = getAmountOut(amountIn, tokenIn);
        if (amountOut < minAmountOut) revert InsufficientOutput(amountOut, minAmountOut);
        address tokenOut;
        if (tokenIn == token0) {
            tokenOut = token1;
            reserve0 += amountIn;
            reserve1 -= amountOut;
        } else {
            tokenOut = token0;
            reserve1 += amountIn;
            reserve0 -= amountOut;
        }
        tokenIn.safeTransferFrom(msg.sender, address(this), amountIn);
        tokenOut.safeTransfer(to, amountOut);
        emit Swap(msg.sender, tokenIn, amountIn, amountOut, to);
    }

    /// @notice Deposit both tokens; shares follow the scarcer side, so unbalanced excess is donated.
    function addLiquidity(uint256 amount0, uint256 amount1) external returns (uint256 minted) {
        if (amount0 == 0 || amount1 == 0) revert InvalidAmount();
        uint256 total = totalShares;
        if (total == 0) {
            minted = _sqrt(amount0 * amount1);
        } else {
            uint256 by0 = (amount0 * total) / reserve0;
            uint256 by1 = (amount1 * total) / reserve1;
            minted = by0 < by1 ? by0 : by1;
        }
        if (minted == 0) revert InsufficientLiquidity();
        totalShares = total + minted;
        shares[msg.sender] += minted;
        reserve0 += amount0;
        reserve1 += amount1;
        token0.safeTransferFrom(msg.sender, address(this), amount0);
        token1.safeTransferFrom(msg.sender, address(this), amount1);
        emit LiquidityAdded(msg.sender, amount0, amount1, minted);
    }

    function removeLiquidity(uint256 burned) external returns (uint256 amount0, uint256 amount1) {
        if (burned == 0 || burned > shares[msg.sender]) revert InvalidAmount();
        uint256 total = totalShares;
        amount0 = (reserve0 * burned) / total;
        amount1 = (reserve1 * burned) / total;
        shares[msg.sender] -= burned;
        totalShares = total - burned;
        reserve0 -= amount0;
        reserve1 -= amount1;
        token0.safeTransfer(msg.sender, amount0);
        token1.safeTransfer(msg.sender, amount1);
        emit LiquidityRemoved(msg.sender, amount0, amount1, burned);
    }

    function _reservesFor(address tokenIn) private view returns (uint256, uint256) {
        if (tokenIn == token0) return (reserve0, reserve1);
        if (tokenIn == token1) return (reserve1, reserve0);
        revert InvalidToken(tokenIn);
    }

    /// @dev Babylonian square root, rounding down.
    function _sqrt(uint256 y) private pure returns (uint256 z) {
        if (y > 3) {
            z = y;
            uint256 x = y / 2 + 1;
            while (x < z) {
                z = x;
                x = (y / x + x) / 2;
            }
        } else if (y != 0) {
            z = 1;
        }
    }
}
