"""The ImageNet-1k overlap of an evaluation set, from the WordNet ids in the photo file names."""

import pandas as pd

from zsb.data.imagenet import imagenet1k_synsets, imagenet_overlap, synset_of


def test_synset_list_is_imagenet_1k():
    synsets = imagenet1k_synsets()
    assert len(synsets) == 1000 and "n01440764" in synsets  # tench, the first ImageNet-1k class
    assert "n02690373" in synsets and "n02691156" not in synsets  # airliner; "airplane" is not a 1k class
    assert "n00000001" not in synsets


def test_overlap_counts_classes_and_photos_on_known_ids():
    photos = pd.DataFrame({
        "class_name": ["fish", "fish", "fish", "plane", "plane", "unicorn", "unicorn", "drawing"],
        "path": ["/d/fish/n01440764_1.jpg", "/d/fish/n01440764_2.jpg", "/d/fish/n09999999_3.jpg",
                 "/d/plane/n02690373_10151.jpg", "/d/plane/n02690373_77.JPEG",
                 "/d/unicorn/n09999999_1.jpg", "/d/unicorn/n09999999_2.jpg", "/d/drawing/photo_1.jpg"],
    })
    overlap = imagenet_overlap(photos)
    assert overlap == {
        "classes": 4, "classes_in_imagenet1k": 2, "class_names_in_imagenet1k": ["fish", "plane"],
        "photos": 8, "photos_in_imagenet1k": 4, "photos_without_synset_id": 1,
    }
    assert synset_of("/x/n02691156_10151.jpg") == "n02691156" and synset_of("/x/photo_1.jpg") is None
    assert synset_of("/x/n026911561_1.jpg") is None  # nine digits: not a WordNet id
