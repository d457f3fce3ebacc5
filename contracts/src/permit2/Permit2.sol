// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISignatureTransfer} from "../interfaces/ISignatureTransfer.sol";
import {SafeTransfer} from "../lib/SafeTransfer.sol";

/// @notice Permit2's SignatureTransfer for the devnet, written from the published interface:
/// the EIP-712 domain ("Permit2", chainId, verifyingContract; no version), the canonical type
/// strings, unordered nonce bitmaps and the signature rules (65-byte r||s||v, 64-byte EIP-2098
/// compact, EIP-1271 when the owner has code). The devnet sets this runtime code at the
/// canonical address on every EVM chain, so wallets and contracts that target Permit2 work
/// against it unchanged.
/// @dev No immutables and no constructor state: the runtime code is copied to the canonical
/// address with anvil_setCode, so the domain separator is computed at call time from
/// block.chainid and address(this) (correct at whatever address the code runs).
contract Permit2 is ISignatureTransfer {
    using SafeTransfer for address;

    bytes32 public constant DOMAIN_TYPEHASH = keccak256("EIP712Domain(string name,uint256 chainId,address verifyingContract)");
    bytes32 public constant HASHED_NAME = keccak256("Permit2");

    bytes32 public constant TOKEN_PERMISSIONS_TYPEHASH = keccak256("TokenPermissions(address token,uint256 amount)");
    bytes32 public constant PERMIT_TRANSFER_FROM_TYPEHASH = keccak256(
        "PermitTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline)TokenPermissions(address token,uint256 amount)"
    );
    /// The witness form's type string is this stub followed by the caller's witness type
    /// string ("<Type> witness)<Type>(...)<referenced types>TokenPermissions(address token,uint256 amount)").
    string public constant PERMIT_WITNESS_TRANSFER_FROM_TYPEHASH_STUB =
        "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,";

    /// bytes4(keccak256("isValidSignature(bytes32,bytes)")): an EIP-1271 wallet's yes.
    bytes4 private constant _EIP1271_MAGIC = 0x1626ba7e;
    bytes32 private constant _UPPER_BIT_MASK = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff;

    /// owner => word position => 256 nonce bits (a set bit is a used or invalidated nonce).
    mapping(address owner => mapping(uint256 wordPos => uint256 bits)) public nonceBitmap;

    error InvalidSignatureLength();
    error InvalidSignature();
    error InvalidSigner();
    error InvalidContractSignature();

    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, HASHED_NAME, block.chainid, address(this)));
    }

    function permitTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes calldata signature
    ) external {
        bytes32 dataHash = keccak256(
            abi.encode(PERMIT_TRANSFER_FROM_TYPEHASH, _hashTokenPermissions(permit.permitted), msg.sender,
                permit.nonce, permit.deadline)
        );
        _transfer(permit, transferDetails, owner, dataHash, signature);
    }

    function permitWitnessTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 witness,
        string calldata witnessTypeString,
        bytes calldata signature
    ) external {
        bytes32 typeHash = keccak256(abi.encodePacked(PERMIT_WITNESS_TRANSFER_FROM_TYPEHASH_STUB, witnessTypeString));
        bytes32 dataHash = keccak256(
            abi.encode(typeHash, _hashTokenPermissions(permit.permitted), msg.sender, permit.nonce, permit.deadline,
                witness)
        );
        _transfer(permit, transferDetails, owner, dataHash, signature);
    }

    /// @notice Burn the nonces of `mask` in word `wordPos` of the caller's bitmap, so permits
    /// signed with them can never be used (how a user cancels a signed permit on chain).
    function invalidateUnorderedNonces(uint256 wordPos, uint256 mask) external {
        nonceBitmap[msg.sender][wordPos] |= mask;
        emit UnorderedNonceInvalidation(msg.sender, wordPos, mask);
    }

    /// @dev The spender is msg.sender (hashed into dataHash): a permit signed for one spender
    /// cannot be spent by another.
    function _transfer(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 dataHash,
        bytes calldata signature
    ) private {
        if (block.timestamp > permit.deadline) revert SignatureExpired(permit.deadline);
        if (transferDetails.requestedAmount > permit.permitted.amount) revert InvalidAmount(permit.permitted.amount);
        _useUnorderedNonce(owner, permit.nonce);
        _verify(keccak256(abi.encodePacked(hex"1901", DOMAIN_SEPARATOR(), dataHash)), owner, signature);
        permit.permitted.token.safeTransferFrom(owner, transferDetails.to, transferDetails.requestedAmount);
    }

    function _hashTokenPermissions(TokenPermissions calldata permitted) private pure returns (bytes32) {
        return keccak256(abi.encode(TOKEN_PERMISSIONS_TYPEHASH, permitted.token, permitted.amount));
    }

    /// @dev Nonce n is bit (n & 0xff) of word (n >> 8); flipping a set bit means it was used.
    function _useUnorderedNonce(address owner, uint256 nonce) private {
        uint256 bit = 1 << (nonce & 0xff);
        uint256 flipped = nonceBitmap[owner][nonce >> 8] ^= bit;
        if (flipped & bit == 0) revert InvalidNonce();
    }

    function _verify(bytes32 digest, address owner, bytes calldata signature) private view {
        if (owner.code.length > 0) {
            (bool ok, bytes memory ret) =
                owner.staticcall(abi.encodeWithSelector(_EIP1271_MAGIC, digest, signature));
            if (!ok || ret.length != 32 || abi.decode(ret, (bytes4)) != _EIP1271_MAGIC) {
                revert InvalidContractSignature();
            }
            return;
        }
        bytes32 r;
        bytes32 s;
        uint8 v;
        if (signature.length == 65) {
            r = bytes32(signature[0:32]);
            s = bytes32(signature[32:64]);
            v = uint8(signature[64]);
        } else if (signature.length == 64) {
            r = bytes32(signature[0:32]);
            bytes32 vs = bytes32(signature[32:64]);
            s = vs & _UPPER_BIT_MASK;
            v = uint8(uint256(vs >> 255)) + 27;
        } else {
            revert InvalidSignatureLength();
        }
        address signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature();
        if (signer != owner) revert InvalidSigner();
    }
}
