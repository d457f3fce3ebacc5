"""OrbitalSettler happy paths across both devnet chains: gasless open, fill, settle, refund,
on-chain open, with balances checked on both chains and events decoded by protocol/."""

from __future__ import annotations

from eth_utils import keccak

from protocol import (
    ORDER_DATA_TYPE,
    FillData,
    OrbitalOrder,
    ResolvedOrder,
    address_to_bytes32,
    order_id,
)

ONE_USDC = 10**6


def _open_for(chain, order, signature, sender, filler_data=b""):
    receipt = chain.send(chain.settler.functions.openFor(order.to_abi(), signature, filler_data), sender)
    [event] = chain.events(receipt, "Open")
    return receipt, event


def test_open_fill_settle_moves_funds_on_both_chains(chain_a, chain_b, roles, make_order, sign, filler_data):
    user, solver, attester = roles["user"], roles["solver"], roles["attester"]
    recipient = roles["user2"].address
    order = make_order(chain_a, chain_b, user, recipient=recipient)
    settler_a = chain_a.settler.address
    before = {
        "user_a": chain_a.balance("USDC", user.address), "solver_a": chain_a.balance("USDC", solver.address),
        "escrow": chain_a.balance("USDC", settler_a), "recipient_b": chain_b.balance("USDC", recipient),
        "solver_b": chain_b.balance("USDC", solver.address),
    }

    # Origin: the solver submits the user's signed order; inputs move into escrow.
    _, opened = _open_for(chain_a, order, sign(order, user.private_key), solver, filler_data(solver.address))
    resolved = ResolvedOrder.from_abi(opened["resolvedOrder"])
    assert opened["orderId"] == order.order_id == resolved.order_id
    assert resolved.user == user.address and resolved.origin_chain_id == chain_a.chain_id
    assert resolved.min_received[0].recipient_address == solver.address
    assert resolved.max_spent[0].amount == 99 * ONE_USDC and resolved.max_spent[0].chain_id == chain_b.chain_id
    assert chain_a.balance("USDC", user.address) == before["user_a"] - 100 * ONE_USDC
    assert chain_a.balance("USDC", settler_a) == before["escrow"] + 100 * ONE_USDC

    # Destination: the solver fills with the FillInstruction's originData.
    instruction = resolved.fill_instructions[0]
    assert instruction.destination_settler == address_to_bytes32(chain_b.settler.address)
    fill = instruction.fill_data
    assert fill == FillData(order.order_id, chain_a.chain_id, chain_b.chain_id, order.order.output_token,
                            99 * ONE_USDC, recipient, order.fill_deadline)
    receipt = chain_b.send(chain_b.settler.functions.fill(order.order_id, instruction.origin_data, b""), solver)
    [filled] = chain_b.events(receipt, "Filled")
    assert filled == {"orderId": order.order_id, "filler": solver.address,
                      "fillKey": keccak(instruction.origin_data), "recipient": recipient,
                      "token": fill.output_token, "amount": 99 * ONE_USDC, "originChainId": chain_a.chain_id}
    assert chain_b.balance("USDC", recipient) == before["recipient_b"] + 99 * ONE_USDC
    assert chain_b.balance("USDC", solver.address) == before["solver_b"] - 99 * ONE_USDC
    assert chain_b.settler.functions.filledBy(instruction.origin_data).call() == solver.address

    # Origin: the attester settles; escrow goes to the filler.
    escrow = chain_a.settler.functions.escrows(order.order_id).call()
    assert escrow[6] == fill.fill_key == keccak(instruction.origin_data)   # the escrow's fill key
    receipt = chain_a.send(chain_a.settler.functions.settle([order.order_id], [solver.address],
                                                            [fill.fill_key]), attester)
    [settled] = chain_a.events(receipt, "Settled")
    assert settled == {"orderId": order.order_id, "filler": solver.address,
                       "token": order.order.input_token, "amount": 100 * ONE_USDC}
    assert chain_a.balance("USDC", solver.address) == before["solver_a"] + 100 * ONE_USDC
    assert chain_a.balance("USDC", settler_a) == before["escrow"]
    assert chain_a.settler.functions.escrows(order.order_id).call()[2] == 2  # OrderStatus.Settled


def test_filler_may_deliver_more_and_choose_repayment(chain_a, chain_b, roles, make_order, sign, filler_data):
    user, solver, operator = roles["user"], roles["solver"], roles["operator"]
    order = make_order(chain_a, chain_b, user)
    _, opened = _open_for(chain_a, order, sign(order, user.private_key), solver)
    origin_data = ResolvedOrder.from_abi(opened["resolvedOrder"]).fill_instructions[0].origin_data
    before = chain_b.balance("USDC", user.address)
    receipt = chain_b.send(chain_b.settler.functions.fill(order.order_id, origin_data,
                                                          filler_data(operator.address, 105 * ONE_USDC)), solver)
    [filled] = chain_b.events(receipt, "Filled")
    assert filled["filler"] == operator.address and filled["amount"] == 105 * ONE_USDC
    assert chain_b.balance("USDC", user.address) == before + 105 * ONE_USDC


def test_default_filler_is_the_sender(chain_a, chain_b, roles, make_order, sign):
    user, operator = roles["user"], roles["operator"]
    order = make_order(chain_a, chain_b, user)
    _, opened = _open_for(chain_a, order, sign(order, user.private_key), operator)
    assert ResolvedOrder.from_abi(opened["resolvedOrder"]).min_received[0].recipient_address == operator.address
    assert chain_a.settler.functions.escrows(order.order_id).call()[4] == operator.address


def test_batched_settle(chain_a, chain_b, roles, make_order, sign):
    user, user2, solver, attester = roles["user"], roles["user2"], roles["solver"], roles["attester"]
    orders = [make_order(chain_a, chain_b, u, nonce=7) for u in (user, user2)]
    keys = []
    for o, u in zip(orders, (user, user2)):
        _, opened = _open_for(chain_a, o, sign(o, u.private_key), solver)
        keys.append(ResolvedOrder.from_abi(opened["resolvedOrder"]).fill_instructions[0].fill_data.fill_key)
    before = chain_a.balance("USDC", solver.address)
    receipt = chain_a.send(chain_a.settler.functions.settle([o.order_id for o in orders], [solver.address] * 2,
                                                            keys), attester)
    assert [e["orderId"] for e in chain_a.events(receipt, "Settled")] == [o.order_id for o in orders]
    assert chain_a.balance("USDC", solver.address) == before + 200 * ONE_USDC


def test_refund_after_fill_deadline(chain_a, chain_b, roles, make_order, sign):
    user, solver, outsider = roles["user"], roles["solver"], roles["outsider"]
    order = make_order(chain_a, chain_b, user, fill_in=120)
    before = chain_a.balance("USDC", user.address)
    _open_for(chain_a, order, sign(order, user.private_key), solver)
    assert chain_a.balance("USDC", user.address) == before - 100 * ONE_USDC
    chain_a.warp(121)
    receipt = chain_a.send(chain_a.settler.functions.refund(order.order_id), outsider)  # anyone may refund
    [refunded] = chain_a.events(receipt, "Refunded")
    assert refunded == {"orderId": order.order_id, "user": user.address, "token": order.order.input_token,
                        "amount": 100 * ONE_USDC}
    assert chain_a.balance("USDC", user.address) == before


def test_onchain_open_uses_next_free_nonce(chain_a, chain_b, roles):
    user = roles["user"]
    settler = chain_a.settler
    usdc_a, usdc_b = chain_a.usdc.address, chain_b.usdc.address
    order_data = OrbitalOrder(usdc_a, 50 * ONE_USDC, usdc_b, 49 * ONE_USDC, user.address, chain_b.chain_id).encode()
    onchain = (chain_a.now() + 3600, ORDER_DATA_TYPE, order_data)
    chain_a.send(settler.functions.invalidateNonce(0), user)  # burnt: open must skip it

    preview = ResolvedOrder.from_abi(settler.functions.resolve(onchain).call({"from": user.address}))
    assert preview.order_id == order_id(chain_a.chain_id, settler.address, user.address, 1)
    before = chain_a.balance("USDC", user.address)
    receipt = chain_a.send(settler.functions.open(onchain), user)
    [opened] = chain_a.events(receipt, "Open")
    resolved = ResolvedOrder.from_abi(opened["resolvedOrder"])
    assert resolved.order_id == preview.order_id
    assert resolved.min_received[0].recipient == bytes(32)  # no filler chosen for on-chain orders
    assert resolved.fill_instructions[0].fill_data.amount == 49 * ONE_USDC
    assert chain_a.balance("USDC", user.address) == before - 50 * ONE_USDC

    receipt = chain_a.send(settler.functions.open(onchain), user)
    [second] = chain_a.events(receipt, "Open")
    assert second["orderId"] == order_id(chain_a.chain_id, settler.address, user.address, 2)
