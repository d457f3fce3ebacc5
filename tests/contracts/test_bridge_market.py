"""Bridge (deposit/release between the devnet chains), PriceFeed (Chainlink interface) and
ConstantProductPool (x*y=k with a 0.3% fee): behaviour and the revert classes."""

from __future__ import annotations

ONE_USDC = 10**6
ONE_WETH = 10**18


def test_bridge_deposit_then_release_on_the_other_chain(chain_a, chain_b, roles):
    operator, relayer = roles["operator"], roles["attester"]  # account 1 is the bridge relayer
    amount = 5_000 * ONE_USDC
    deposit_id = chain_a.bridge.functions.nextDepositId().call()
    before_a = chain_a.balance("USDC", operator.address)
    receipt = chain_a.send(chain_a.bridge.functions.deposit(chain_a.usdc.address, amount, chain_b.chain_id,
                                                            operator.address), operator)
    [dep] = chain_a.events(receipt, "BridgeDeposit")
    assert dep == {"depositId": deposit_id, "sender": operator.address, "token": chain_a.usdc.address,
                   "amount": amount, "destinationChainId": chain_b.chain_id, "recipient": operator.address}
    assert chain_a.balance("USDC", operator.address) == before_a - amount
    assert chain_a.bridge.functions.nextDepositId().call() != deposit_id

    before_b = chain_b.balance("USDC", operator.address)
    release = chain_b.bridge.functions.release(deposit_id, chain_b.usdc.address, amount, operator.address,
                                               chain_a.chain_id)
    chain_b.expect_revert(release, operator, "Bridge", "Unauthorized")
    receipt = chain_b.send(release, relayer)
    [rel] = chain_b.events(receipt, "BridgeRelease")
    assert rel == {"depositId": deposit_id, "recipient": operator.address, "token": chain_b.usdc.address,
                   "amount": amount, "originChainId": chain_a.chain_id}
    assert chain_b.balance("USDC", operator.address) == before_b + amount
    assert chain_b.bridge.functions.released(deposit_id).call()
    chain_b.expect_revert(release, relayer, "Bridge", "AlreadyReleased")


def test_bridge_deposit_reverts(chain_a, roles):
    operator, deposit = roles["operator"], chain_a.bridge.functions.deposit
    usdc = chain_a.usdc.address
    chain_a.expect_revert(deposit(usdc, 1, chain_a.chain_id, operator.address), operator, "Bridge", "InvalidDestination")
    chain_a.expect_revert(deposit(usdc, 0, 31338, operator.address), operator, "Bridge", "InvalidAmount")
    chain_a.expect_revert(deposit(usdc, 1, 31338, "0x" + "00" * 20), operator, "Bridge", "ZeroAddress")
    chain_a.expect_revert(chain_a.bridge.functions.setRelayer(operator.address), operator, "Bridge", "Unauthorized")


def test_price_feed_is_chainlink_compatible(chain_a, roles):
    feed = chain_a.feeds["WETH/USD"]
    assert feed.functions.decimals().call() == 8
    assert feed.functions.description().call() == "WETH / USD"
    round_id, answer, _, updated_at, answered_in = feed.functions.latestRoundData().call()
    assert answer == 3_000 * 10**8 and answered_in == round_id
    assert chain_a.feeds["USDC/USD"].functions.latestRoundData().call()[1] == 10**8

    receipt = chain_a.send(feed.functions.setAnswer(3_100 * 10**8), roles["admin"])
    new_round, new_answer, started, new_updated, _ = feed.functions.latestRoundData().call()
    block_time = chain_a.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert (new_round, new_answer, started, new_updated) == (round_id + 1, 3_100 * 10**8, block_time, block_time)
    assert new_updated >= updated_at
    assert feed.functions.getRoundData(round_id).call()[1] == 3_000 * 10**8  # history kept
    chain_a.expect_revert(feed.functions.setAnswer(1), roles["user"], "PriceFeed", "Unauthorized")
    chain_a.expect_revert(feed.functions.getRoundData(999), roles["user"], "PriceFeed", "NoDataPresent")


def _amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    with_fee = amount_in * 9_970
    return with_fee * reserve_out // (reserve_in * 10_000 + with_fee)


def test_pool_quotes_and_swaps_with_fee(chain_a, roles):
    pool, user = chain_a.pool, roles["user"]
    r_usdc, r_weth = pool.functions.getReserves().call()
    assert (r_usdc, r_weth) == (3_000_000 * ONE_USDC, 1_000 * ONE_WETH)
    assert pool.functions.token0().call() == chain_a.usdc.address
    amount_in = 30_000 * ONE_USDC
    quoted = pool.functions.getAmountOut(amount_in, chain_a.usdc.address).call()
    assert quoted == _amount_out(amount_in, r_usdc, r_weth)
    assert 9 * ONE_WETH < quoted < 10 * ONE_WETH  # 1% of the pool at ~3000 USDC/WETH, minus fee and impact

    before_usdc, before_weth = chain_a.balance("USDC", user.address), chain_a.balance("WETH", user.address)
    chain_a.send(pool.functions.swap(chain_a.usdc.address, amount_in, quoted, user.address), user)
    assert chain_a.balance("USDC", user.address) == before_usdc - amount_in
    assert chain_a.balance("WETH", user.address) == before_weth + quoted
    assert pool.functions.getReserves().call() == [r_usdc + amount_in, r_weth - quoted]
    # Reverse direction uses the other reserve as input.
    back = pool.functions.getAmountOut(ONE_WETH, chain_a.weth.address).call()
    assert back == _amount_out(ONE_WETH, r_weth - quoted, r_usdc + amount_in)


def test_pool_reverts_and_liquidity(chain_a, roles):
    pool, user = chain_a.pool, roles["user"]
    usdc = chain_a.usdc.address
    chain_a.expect_revert(pool.functions.swap(usdc, ONE_USDC, 10**18, user.address), user, "ConstantProductPool",
                          "InsufficientOutput")
    chain_a.expect_revert(pool.functions.getAmountOut(1, chain_a.settler.address), user, "ConstantProductPool",
                          "InvalidToken")
    chain_a.expect_revert(pool.functions.getAmountOut(0, usdc), user, "ConstantProductPool", "InvalidAmount")

    total = pool.functions.totalShares().call()
    chain_a.send(pool.functions.addLiquidity(30_000 * ONE_USDC, 10 * ONE_WETH), user)  # exactly 1% of reserves
    minted = pool.functions.shares(user.address).call()
    assert minted == total // 100
    reserve_usdc = pool.functions.reserve0().call()
    before = chain_a.balance("USDC", user.address)
    chain_a.send(pool.functions.removeLiquidity(minted), user)
    returned = chain_a.balance("USDC", user.address) - before
    assert returned == reserve_usdc * minted // (total + minted)  # pro rata, rounded down
    assert 30_000 * ONE_USDC - returned <= 1
    chain_a.expect_revert(pool.functions.removeLiquidity(1), user, "ConstantProductPool", "InvalidAmount")
