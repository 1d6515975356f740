"""The depersonalisation hash is ГОСТ Р 34.11-2012/512 (Стрибог) as published test vectors say."""
from specs.hashing import check_hash, document_hash, normalise_document, streebog512


def test_streebog512_matches_the_standard_test_vectors():
    # GOST R 34.11-2012 example M1 (the 63-byte digit string); RFC 6986 §10.1.1 lists its
    # 512-bit digest.
    m1 = "012345678901234567890123456789012345678901234567890123456789012"
    assert streebog512(m1) == (
        "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa"
        "00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48"
    )
    assert streebog512("") == (
        "8e945da209aa869f0455928529bcae4679e9873ab707b55315f56ceb98bef0a7"
        "362f715528356ee83cda5f2aac4c6ad2ba3a715c1bcd81cb8e9f90bf4c1c1a8a"
    )


def test_document_hash_ignores_spacing_and_case_of_series_and_number():
    assert normalise_document("IV-мю", "123 456") == "IVМЮ123456"
    assert document_hash("IV-мю", "123456") == document_hash("ivмю", " 123-456")
    assert check_hash(document_hash("45 10", "123456")) is None


def test_check_hash_refuses_upper_case_and_wrong_length():
    good = streebog512("x")
    assert check_hash(good.upper()) is not None
    assert check_hash(good[:-1]) is not None
