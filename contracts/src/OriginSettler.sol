// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {
    GaslessCrossChainOrder,
    OnchainCrossChainOrder,
    ResolvedCrossChainOrder,
    Output,
    FillInstruction,
    IOriginSettler
} from "./interfaces/IERC7683.sol";
import {OrbitalOrder32, FillData, OrbitalTypes} from "./OrbitalTypes.sol";
import {ECDSA} from "./lib/ECDSA.sol";
import {SignatureChecker} from "./lib/SignatureChecker.sol";
import {SafeTransfer} from "./lib/SafeTransfer.sol";
import {Admin} from "./lib/Admin.sol";
import {Permit2Witness} from "./permit2/Permit2Witness.sol";

/// @notice ERC-7683 origin role: verifies orders, escrows inputs, pays the attested filler or
/// refunds the user after fillDeadline.
/// @dev Settlement trusts one attester key (set by the admin) to report fills seen on the
/// destination chain; that is the devnet's stand-in for a cross-chain proof system.
/// Two orderData types: OrbitalOrder (EVM destinations, filled at their DestinationSettler)
/// and OrbitalOrder32 (destinations whose accounts are 32 bytes, such as Solana, where the fill
/// is a token transfer bound to the order by a memo). Each type is accepted only for its kind
/// of destination. Internally both are held in the 32-byte form (an address widened to its
/// left-padded word hashes and encodes exactly as the address does).
abstract contract OriginSettler is IOriginSettler, Admin {
    using SafeTransfer for address;

    enum OrderStatus {
        None,
        Opened,
        Settled,
        Refunded
    }

    /// @dev user, fillDeadline, status and order32 share a slot. `fillKey` is keccak256 of the
    /// FillInstruction's originData this escrow was opened with: settle pays only for a fill
    /// of exactly that originData (a fill of the same orderId with other terms is not this
    /// escrow's). `order32` marks an OrbitalOrder32 escrow: its fill (on a chain without a
    /// settler to record a repayment address) can only repay the filler named at open.
    struct Escrow {
        address user;
        uint32 fillDeadline;
        OrderStatus status;
        bool order32;
        address inputToken;
        address filler;
        uint256 inputAmount;
        bytes32 fillKey;
    }

    string public constant NAME = "Orbital";
    string public constant VERSION = "1";

    address public attester;
    mapping(bytes32 orderId => Escrow) internal _escrows;
    mapping(address user => mapping(uint256 nonce => bool)) public usedNonces;
    mapping(address user => uint256) public nextOnchainNonce;
    mapping(uint256 chainId => address) public destinationSettlers;
    /// 32-byte destinations (OrbitalOrder32 orders): for Solana, the SPL Memo program id, the
    /// program a fill's memo (the order id) is addressed to.
    mapping(uint256 chainId => bytes32) public destinations32;

    uint256 private immutable _cachedChainId;
    bytes32 private immutable _cachedDomainSeparator;

    event Settled(bytes32 indexed orderId, address indexed filler, address token, uint256 amount);
    event Refunded(bytes32 indexed orderId, address indexed user, address token, uint256 amount);
    event NonceInvalidated(address indexed user, uint256 nonce);
    event AttesterSet(address indexed previousAttester, address indexed attester);
    event DestinationSettlerSet(uint256 indexed chainId, address settler);
    event Destination32Set(uint256 indexed chainId, bytes32 destination);

    error WrongSettler(address expected, address got);
    error WrongChain(uint256 expected, uint256 got);
    error OpenDeadlinePassed(uint32 openDeadline);
    error InvalidFillDeadline(uint32 fillDeadline);
    error UnsupportedOrderDataType(bytes32 orderDataType);
    error InvalidOrderData();
    error UnsupportedDestination(uint256 chainId);
    error OrderAlreadyOpened(bytes32 orderId);
    error NonceAlreadyUsed(address user, uint256 nonce);
    error InvalidSigner(address recovered, address user);
    error InvalidFillerData();
    error OrderNotOpened(bytes32 orderId);
    error OrderAlreadySettled(bytes32 orderId);
    error OrderAlreadyRefunded(bytes32 orderId);
    error RefundTooEarly(bytes32 orderId, uint32 fillDeadline);
    error LengthMismatch();
    error FillKeyMismatch(bytes32 orderId, bytes32 expected, bytes32 got);
    error FillerMismatch(bytes32 orderId, address expected, address got);
    error DestinationKindConflict(uint256 chainId);

    constructor(address attester_) {
        if (attester_ == address(0)) revert ZeroAddress();
        attester = attester_;
        emit AttesterSet(address(0), attester_);
        _cachedChainId = block.chainid;
        _cachedDomainSeparator = _buildDomainSeparator();
    }

    // ---------------------------------------------------------------- admin

    function setAttester(address attester_) external onlyAdmin {
        if (attester_ == address(0)) revert ZeroAddress();
        emit AttesterSet(attester, attester_);
        attester = attester_;
    }

    /// @notice Where fills for `chainId` happen; an order to an unknown chain cannot be opened.
    /// A chain is an EVM destination or a 32-byte one, never both (else an order of either
    /// type could name it); clear one before setting the other.
    function setDestinationSettler(uint256 chainId, address settler) external onlyAdmin {
        if (settler != address(0) && destinations32[chainId] != bytes32(0)) revert DestinationKindConflict(chainId);
        destinationSettlers[chainId] = settler;
        emit DestinationSettlerSet(chainId, settler);
    }

    /// @notice Where OrbitalOrder32 orders to `chainId` are filled (Solana: the SPL Memo
    /// program id); zero makes the chain unknown to them.
    function setDestination32(uint256 chainId, bytes32 destination) external onlyAdmin {
        if (destination != bytes32(0) && destinationSettlers[chainId] != address(0)) {
            revert DestinationKindConflict(chainId);
        }
        destinations32[chainId] = destination;
        emit Destination32Set(chainId, destination);
    }

    // ---------------------------------------------------------------- views

    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return block.chainid == _cachedChainId ? _cachedDomainSeparator : _buildDomainSeparator();
    }

    /// @notice EIP-5267: lets wallets and clients discover the signing domain instead of hard-coding it.
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", NAME, VERSION, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    /// @notice The escrow of `orderId_` (the public-getter shape it has always had; whether it
    /// is an OrbitalOrder32 escrow is `isOrder32`).
    function escrows(bytes32 orderId_)
        external
        view
        returns (
            address user,
            uint32 fillDeadline,
            OrderStatus status,
            address inputToken,
            address filler,
            uint256 inputAmount,
            bytes32 fillKey
        )
    {
        Escrow storage e = _escrows[orderId_];
        return (e.user, e.fillDeadline, e.status, e.inputToken, e.filler, e.inputAmount, e.fillKey);
    }

    /// @notice True when `orderId_` was opened from an OrbitalOrder32 (settle then pays only
    /// the filler named at open).
    function isOrder32(bytes32 orderId_) external view returns (bool) {
        return _escrows[orderId_].order32;
    }

    function orderId(uint256 originChainId, address originSettler, address user, uint256 nonce)
        external
        pure
        returns (bytes32)
    {
        return OrbitalTypes.orderId(originChainId, originSettler, user, nonce);
    }

    /// @notice The EIP-712 digest a user signs for `order` (lets clients check their encoder).
    function gaslessOrderDigest(GaslessCrossChainOrder calldata order) external view returns (bytes32) {
        (OrbitalOrder32 memory o, bool wide) = _decode(order);
        return ECDSA.typedDataDigest(DOMAIN_SEPARATOR(), OrbitalTypes.hashGaslessOrder(order, o, wide));
    }

    function resolveFor(GaslessCrossChainOrder calldata order, bytes calldata originFillerData)
        external
        view
        returns (ResolvedCrossChainOrder memory)
    {
        (OrbitalOrder32 memory o, bool wide) = _decode(order);
        bytes32 id = OrbitalTypes.orderId(order.originChainId, order.originSettler, order.user, order.nonce);
        return _resolve(order.user, order.originChainId, order.openDeadline, order.fillDeadline, id, o, wide,
            _filler(originFillerData));
    }

    function resolve(OnchainCrossChainOrder calldata order) external view returns (ResolvedCrossChainOrder memory) {
        OrbitalOrder32 memory o = _decodeOnchain(order);
        (uint256 nonce,) = _peekOnchainNonce(msg.sender);
        bytes32 id = OrbitalTypes.orderId(block.chainid, address(this), msg.sender, nonce);
        return _resolve(msg.sender, block.chainid, uint32(block.timestamp), order.fillDeadline, id, o, false,
            address(0));
    }

    // ---------------------------------------------------------------- open

    function openFor(GaslessCrossChainOrder calldata order, bytes calldata signature, bytes calldata originFillerData)
        external
    {
        if (order.originSettler != address(this)) revert WrongSettler(address(this), order.originSettler);
        if (order.originChainId != block.chainid) revert WrongChain(block.chainid, order.originChainId);
        if (block.timestamp > order.openDeadline) revert OpenDeadlinePassed(order.openDeadline);
        (OrbitalOrder32 memory o, bool wide) = _decode(order);
        if (Permit2Witness.isPermit2(signature)) {
            _openPermit2(order, o, wide, signature, _filler(originFillerData));
            return;
        }
        bytes32 digest = ECDSA.typedDataDigest(DOMAIN_SEPARATOR(), OrbitalTypes.hashGaslessOrder(order, o, wide));
        address signer = SignatureChecker.signerFor(order.user, digest, signature); // EOA or ERC-1271
        if (signer != order.user) revert InvalidSigner(signer, order.user);
        _open(order.user, order.nonce, order.openDeadline, order.fillDeadline, o, wide, _filler(originFillerData));
    }

    /// @dev The Permit2 form (Permit2Witness): the escrow is recorded exactly as for the
    /// Orbital form, then Permit2 pulls the input, checking the user's signature over the
    /// permit (this settler as spender, the order's nonce, openDeadline as deadline) with the
    /// order's struct hash as witness; any failure there reverts the whole open.
    function _openPermit2(
        GaslessCrossChainOrder calldata order,
        OrbitalOrder32 memory o,
        bool wide,
        bytes calldata signature,
        address filler
    ) private {
        (bytes32 id, ResolvedCrossChainOrder memory r) =
            _record(order.user, order.nonce, order.openDeadline, order.fillDeadline, o, wide, filler);
        Permit2Witness.pull(o.inputToken, o.inputAmount, order.user, order.nonce, order.openDeadline,
            OrbitalTypes.hashGaslessOrder(order, o, wide), wide, signature);
        emit Open(id, r);
    }

    /// @dev OrbitalOrder only: an on-chain open names no filler (the fill's repayment address
    /// comes from the destination settler's Filled event), and a 32-byte destination has no
    /// settler to name one, so an OrbitalOrder32 must be opened by signature (openFor), where
    /// the filler is named at open.
    function open(OnchainCrossChainOrder calldata order) external {
        OrbitalOrder32 memory o = _decodeOnchain(order);
        (uint256 nonce, uint256 next) = _peekOnchainNonce(msg.sender);
        nextOnchainNonce[msg.sender] = next;
        _open(msg.sender, nonce, uint32(block.timestamp), order.fillDeadline, o, false, address(0));
    }

    /// @notice Burn a nonce so an order signed with it can never be opened.
    function invalidateNonce(uint256 nonce) external {
        if (usedNonces[msg.sender][nonce]) revert NonceAlreadyUsed(msg.sender, nonce);
        usedNonces[msg.sender][nonce] = true;
        emit NonceInvalidated(msg.sender, nonce);
    }

    // ---------------------------------------------------------------- settle / refund

    /// @notice Pay each order's escrow to the filler the attester saw fill it, where
    /// `fillKeys[i]` is the fill key (keccak256(originData)) of the `Filled` event the attester
    /// relies on: it must be this escrow's, so a fill of the same orderId with other originData
    /// (a shadow fill) can never be what repays it. Atomic: one bad entry reverts the batch, so
    /// the attester pre-checks states before sending. An OrbitalOrder32 escrow pays only the
    /// filler named at open: its fill happens where no settler records a repayment address, so
    /// nothing on the destination could justify paying anyone else.
    function settle(bytes32[] calldata orderIds, address[] calldata fillers, bytes32[] calldata fillKeys)
        external
    {
        if (msg.sender != attester) revert Unauthorized(msg.sender);
        if (orderIds.length != fillers.length || orderIds.length != fillKeys.length) revert LengthMismatch();
        for (uint256 i = 0; i < orderIds.length; ++i) {
            bytes32 id = orderIds[i];
            address filler = fillers[i];
            if (filler == address(0)) revert ZeroAddress();
            Escrow storage e = _openedEscrow(id);
            if (fillKeys[i] != e.fillKey) revert FillKeyMismatch(id, e.fillKey, fillKeys[i]);
            if (e.order32 && filler != e.filler) revert FillerMismatch(id, e.filler, filler);
            e.status = OrderStatus.Settled;
            e.inputToken.safeTransfer(filler, e.inputAmount);
            emit Settled(id, filler, e.inputToken, e.inputAmount);
        }
    }

    /// @notice Anyone may return an unsettled escrow to its user once fillDeadline has passed.
    function refund(bytes32 orderId_) external {
        Escrow storage e = _openedEscrow(orderId_);
        if (block.timestamp <= e.fillDeadline) revert RefundTooEarly(orderId_, e.fillDeadline);
        e.status = OrderStatus.Refunded;
        e.inputToken.safeTransfer(e.user, e.inputAmount);
        emit Refunded(orderId_, e.user, e.inputToken, e.inputAmount);
    }

    // ---------------------------------------------------------------- internals

    function _open(
        address user,
        uint256 nonce,
        uint32 openDeadline,
        uint32 fillDeadline,
        OrbitalOrder32 memory o,
        bool wide,
        address filler
    ) private {
        (bytes32 id, ResolvedCrossChainOrder memory r) = _record(user, nonce, openDeadline, fillDeadline, o, wide, filler);
        o.inputToken.safeTransferFrom(user, address(this), o.inputAmount);
        emit Open(id, r);
    }

    /// @dev Checks 6-8 of openFor and the escrow record; the caller pulls the input and emits
    /// Open with the returned resolved order.
    function _record(
        address user,
        uint256 nonce,
        uint32 openDeadline,
        uint32 fillDeadline,
        OrbitalOrder32 memory o,
        bool wide,
        address filler
    ) private returns (bytes32 id, ResolvedCrossChainOrder memory r) {
        if (fillDeadline <= block.timestamp) revert InvalidFillDeadline(fillDeadline);
        id = OrbitalTypes.orderId(block.chainid, address(this), user, nonce);
        if (_escrows[id].status != OrderStatus.None) revert OrderAlreadyOpened(id);
        if (usedNonces[user][nonce]) revert NonceAlreadyUsed(user, nonce);
        usedNonces[user][nonce] = true;
        r = _resolve(user, block.chainid, openDeadline, fillDeadline, id, o, wide, filler);
        _escrows[id] = Escrow(user, fillDeadline, OrderStatus.Opened, wide, o.inputToken, filler, o.inputAmount,
            keccak256(r.fillInstructions[0].originData));
    }

    function _openedEscrow(bytes32 id) private view returns (Escrow storage e) {
        e = _escrows[id];
        if (e.status == OrderStatus.Opened) return e;
        if (e.status == OrderStatus.None) revert OrderNotOpened(id);
        if (e.status == OrderStatus.Settled) revert OrderAlreadySettled(id);
        revert OrderAlreadyRefunded(id);
    }

    function _resolve(
        address user,
        uint256 originChainId,
        uint32 openDeadline,
        uint32 fillDeadline,
        bytes32 id,
        OrbitalOrder32 memory o,
        bool wide,
        address filler
    ) private view returns (ResolvedCrossChainOrder memory r) {
        r.user = user;
        r.originChainId = originChainId;
        r.openDeadline = openDeadline;
        r.fillDeadline = fillDeadline;
        r.orderId = id;
        r.maxSpent = new Output[](1);
        r.maxSpent[0] = Output(o.outputToken, o.outputAmount, o.recipient, o.destinationChainId);
        r.minReceived = new Output[](1);
        r.minReceived[0] = Output(_b32(o.inputToken), o.inputAmount, _b32(filler), originChainId);
        r.fillInstructions = new FillInstruction[](1);
        r.fillInstructions[0] = FillInstruction(
            o.destinationChainId,
            wide ? destinations32[o.destinationChainId] : _b32(destinationSettlers[o.destinationChainId]),
            abi.encode(
                FillData(id, originChainId, o.destinationChainId, o.outputToken, o.outputAmount, o.recipient, fillDeadline)
            )
        );
    }

    function _decode(GaslessCrossChainOrder calldata order) private view returns (OrbitalOrder32 memory, bool) {
        return _decodeOrderData(order.orderDataType, order.orderData);
    }

    function _decodeOnchain(OnchainCrossChainOrder calldata order) private view returns (OrbitalOrder32 memory o) {
        bool wide;
        (o, wide) = _decodeOrderData(order.orderDataType, order.orderData);
        if (wide) revert UnsupportedOrderDataType(order.orderDataType);
    }

    /// @dev Either orderData type, held in the 32-byte form; `wide` is true for OrbitalOrder32.
    /// Each type only for its kind of destination: an OrbitalOrder to a chain with an EVM
    /// settler, an OrbitalOrder32 to a chain with a 32-byte destination.
    function _decodeOrderData(bytes32 orderDataType, bytes calldata data)
        private
        view
        returns (OrbitalOrder32 memory o, bool wide)
    {
        wide = orderDataType == OrbitalTypes.ORBITAL_ORDER32_TYPEHASH;
        if (!wide && orderDataType != OrbitalTypes.ORBITAL_ORDER_TYPEHASH) revert UnsupportedOrderDataType(orderDataType);
        if (data.length != OrbitalTypes.ORDER_DATA_LENGTH) revert InvalidOrderData();
        // Both layouts are six static words: decode the 32-byte form, and for an OrbitalOrder
        // require the account words to be left-padded addresses (what abi.encode(address) makes).
        o = abi.decode(data, (OrbitalOrder32));
        if (!wide && (uint256(o.outputToken) >> 160 != 0 || uint256(o.recipient) >> 160 != 0)) {
            revert InvalidOrderData();
        }
        if (
            o.inputToken == address(0) || o.outputToken == bytes32(0) || o.recipient == bytes32(0)
                || o.inputAmount == 0 || o.outputAmount == 0
        ) revert InvalidOrderData();
        bool known = wide
            ? destinations32[o.destinationChainId] != bytes32(0)
            : destinationSettlers[o.destinationChainId] != address(0);
        if (!known) revert UnsupportedDestination(o.destinationChainId);
    }

    /// @dev originFillerData is empty (the caller fills) or abi.encode(address filler).
    function _filler(bytes calldata originFillerData) private view returns (address filler) {
        if (originFillerData.length == 0) return msg.sender;
        if (originFillerData.length != 32) revert InvalidFillerData();
        filler = abi.decode(originFillerData, (address));
        if (filler == address(0)) revert InvalidFillerData();
    }

    /// @dev On-chain orders take the user's next nonce not already burnt by a gasless order.
    function _peekOnchainNonce(address user) private view returns (uint256 nonce, uint256 next) {
        nonce = nextOnchainNonce[user];
        while (usedNonces[user][nonce]) ++nonce;
        next = nonce + 1;
    }

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(
            abi.encode(
                OrbitalTypes.DOMAIN_TYPEHASH, keccak256(bytes(NAME)), keccak256(bytes(VERSION)), block.chainid, address(this)
            )
        );
    }

    function _b32(address a) private pure returns (bytes32) {
        return OrbitalTypes.toBytes32(a);
    }
}
